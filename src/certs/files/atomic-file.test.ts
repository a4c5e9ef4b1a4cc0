import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMPORARY_PREFIX, writeFilesAtomically } from './atomic-file.js';

describe('writeFilesAtomically', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-atomic-'));
    fs.mkdirSync(path.join(root, 'CA'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const temporaries = () => [...fs.readdirSync(root), ...fs.readdirSync(path.join(root, 'CA'))].filter((name) => name.startsWith(TEMPORARY_PREFIX));
  const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

  it('replaces several files in several directories with their contents and modes, leaving no temporary file', async () => {
    fs.writeFileSync(path.join(root, 'web.crt'), 'old');
    await writeFilesAtomically([
      { file: path.join(root, 'web.crt'), content: 'chain\n', mode: 0o644 },
      { file: path.join(root, 'web.key'), content: Buffer.from('key\n'), mode: 0o600 },
      { file: path.join(root, 'CA', 'root.crt'), content: 'root\n', mode: 0o644 },
    ]);
    expect(fs.readFileSync(path.join(root, 'web.crt'), 'utf8')).toBe('chain\n');
    expect(fs.readFileSync(path.join(root, 'web.key'), 'utf8')).toBe('key\n');
    expect(fs.readFileSync(path.join(root, 'CA', 'root.crt'), 'utf8')).toBe('root\n');
    expect([modeOf(path.join(root, 'web.crt')), modeOf(path.join(root, 'web.key')), modeOf(path.join(root, 'CA', 'root.crt'))]).toEqual([0o644, 0o600, 0o644]);
    expect(temporaries()).toEqual([]);
  });

  it('replaces none of them when one cannot be written, and leaves no temporary file', async () => {
    fs.writeFileSync(path.join(root, 'web.crt'), 'old');
    const writing = writeFilesAtomically([
      { file: path.join(root, 'web.crt'), content: 'new', mode: 0o644 },
      { file: path.join(root, 'missing', 'other.crt'), content: 'other', mode: 0o644 },
    ]);
    await expect(writing).rejects.toThrow('ENOENT');
    expect(fs.readFileSync(path.join(root, 'web.crt'), 'utf8')).toBe('old');
    expect(temporaries()).toEqual([]);
  });
});
