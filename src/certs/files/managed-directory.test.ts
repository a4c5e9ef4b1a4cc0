import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMPORARY_PREFIX } from './atomic-file.js';
import { MANIFEST_ADDITIONS_NAME, MANIFEST_NAME, syncManagedDirectory, updateManagedFiles, type DesiredFile } from './managed-directory.js';
import { certificatesDirectory, trustedStoreDirectory } from './plan.js';

const file = (text: string, mode = 0o644): DesiredFile => ({ content: Buffer.from(text), mode });
const modeOf = (target: string) => fs.statSync(target).mode & 0o7777;

describe('syncManagedDirectory', () => {
  let scratch: string;
  let root: string;
  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-managed-'));
    root = path.join(scratch, 'certificates');
  });
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('writes the wanted files with their modes, and rewrites only what differs', async () => {
    const first = await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A\n')], ['a.key', file('K\n', 0o600)], ['CA/r.crl', file('C\n')]]));
    expect(first.written.sort()).toEqual(['CA/r.crl', 'a.crt', 'a.key']);
    expect(fs.readFileSync(path.join(root, 'a.crt'), 'utf8')).toBe('A\n');
    expect(modeOf(path.join(root, 'a.key'))).toBe(0o600);
    expect(modeOf(path.join(root, 'a.crt'))).toBe(0o644);
    expect(modeOf(root)).toBe(0o755);
    expect(modeOf(path.join(root, 'CA'))).toBe(0o755);
    const again = await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A2\n')], ['a.key', file('K\n', 0o600)], ['CA/r.crl', file('C\n')]]));
    expect(again).toEqual({ written: ['a.crt'], removed: [] });
  });

  it('puts back a mode someone loosened', async () => {
    const wanted = new Map([['a.key', file('K\n', 0o600)]]);
    await syncManagedDirectory(certificatesDirectory(root), wanted);
    fs.chmodSync(path.join(root, 'a.key'), 0o644);
    expect((await syncManagedDirectory(certificatesDirectory(root), wanted)).written).toEqual(['a.key']);
    expect(modeOf(path.join(root, 'a.key'))).toBe(0o600);
  });

  it('removes the files it wrote that are no longer wanted, and nothing else', async () => {
    fs.mkdirSync(path.join(root, 'CA'), { recursive: true });
    fs.writeFileSync(path.join(root, 'mine-not.crt'), 'foreign');
    fs.writeFileSync(path.join(root, 'CA', 'foreign.crl'), 'foreign');
    fs.writeFileSync(path.join(root, 'notes.txt'), 'foreign');
    await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A\n')], ['b.crt', file('B\n')]]));
    const result = await syncManagedDirectory(certificatesDirectory(root), new Map([['b.crt', file('B\n')]]));
    expect(result).toEqual({ written: [], removed: ['a.crt'] });
    expect(fs.readdirSync(root).sort()).toEqual([MANIFEST_NAME, 'CA', 'b.crt', 'mine-not.crt', 'notes.txt']);
    expect(fs.readdirSync(path.join(root, 'CA'))).toEqual(['foreign.crl']);
  });

  it('never removes what a damaged manifest names outside its own kinds of paths', async () => {
    fs.mkdirSync(root, { recursive: true });
    const outside = path.join(scratch, 'outside.txt');
    fs.writeFileSync(outside, 'keep me');
    fs.writeFileSync(path.join(root, 'notes.txt'), 'keep me');
    fs.writeFileSync(path.join(root, MANIFEST_NAME), JSON.stringify({ files: ['../outside.txt', 'notes.txt', '/etc/passwd', 'CA/../../outside.txt'] }));
    await syncManagedDirectory(certificatesDirectory(root), new Map());
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me');
    expect(fs.readFileSync(path.join(root, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('refuses to write a path that is not one of its own kinds', async () => {
    for (const relative of ['../evil.crt', 'CA/../../evil.crt', 'sub/evil.crt', '.hidden.crt', 'evil.txt']) {
      await expect(syncManagedDirectory(certificatesDirectory(root), new Map([[relative, file('x')]]))).rejects.toThrow(/Refusing to write/);
    }
    await expect(syncManagedDirectory(trustedStoreDirectory(root), new Map([['x.crt', file('x')]]))).rejects.toThrow(/Refusing to write/);
    expect(fs.existsSync(path.join(scratch, 'evil.crt'))).toBe(false);
  });

  it('removes temporary files a crash left behind, but not one another writer may be filling now', async () => {
    fs.mkdirSync(path.join(root, 'CA'), { recursive: true });
    const old = path.join(root, 'CA', `${TEMPORARY_PREFIX}0123456789abcdef`);
    const fresh = path.join(root, `${TEMPORARY_PREFIX}fedcba9876543210`);
    fs.writeFileSync(old, 'half');
    fs.writeFileSync(fresh, 'half');
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(old, hourAgo, hourAgo);
    await syncManagedDirectory(certificatesDirectory(root), new Map());
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
  });

  it('keeps a listed file listed until it is gone, so a crash never leaves one of ours unlisted', async () => {
    await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A\n')]]));
    const manifest = () => (JSON.parse(fs.readFileSync(path.join(root, MANIFEST_NAME), 'utf8')) as { files: string[] }).files;
    expect(manifest()).toEqual(['a.crt']);
    // A file that cannot be written (a directory in its way) stops the pass after the manifest grew.
    fs.mkdirSync(path.join(root, 'b.crt'));
    await expect(syncManagedDirectory(certificatesDirectory(root), new Map([['b.crt', file('B\n')]]))).rejects.toThrow();
    expect(manifest()).toEqual(['a.crt', 'b.crt']);
    expect(fs.readFileSync(path.join(root, 'a.crt'), 'utf8')).toBe('A\n');
  });

  it('updates named files only, lists the new ones before writing them, and folds that list into the manifest at the next full sync', async () => {
    await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A\n')], ['b.crt', file('B\n')]]));
    fs.rmSync(path.join(root, 'a.crt'));
    fs.writeFileSync(path.join(root, 'foreign.crt'), 'foreign');
    const result = await updateManagedFiles(certificatesDirectory(root), new Map([['c.crt', file('C\n')], ['c.key', file('K\n', 0o600)], ['b.crt', file('B\n')]]), ['b-old.crt']);
    expect(result).toEqual({ written: ['c.crt', 'c.key'], removed: [] });
    // a.crt is no file of this change: left as it is until a full sync.
    expect(fs.existsSync(path.join(root, 'a.crt'))).toBe(false);
    expect(modeOf(path.join(root, 'c.key'))).toBe(0o600);
    expect(fs.readFileSync(path.join(root, MANIFEST_ADDITIONS_NAME), 'utf8')).toBe('c.crt\nc.key\n');
    expect(await updateManagedFiles(certificatesDirectory(root), new Map([['c.crt', file('C2\n')]]), ['c.key'])).toEqual({ written: ['c.crt'], removed: ['c.key'] });
    // c.crt was listed only in the additions, and a full sync that no longer wants it removes it.
    expect(await syncManagedDirectory(certificatesDirectory(root), new Map([['a.crt', file('A\n')]]))).toEqual({ written: ['a.crt'], removed: ['b.crt', 'c.crt'] });
    expect(fs.readdirSync(root).sort()).toEqual([MANIFEST_NAME, 'CA', 'a.crt', 'foreign.crt']);
    expect((JSON.parse(fs.readFileSync(path.join(root, MANIFEST_NAME), 'utf8')) as { files: string[] }).files).toEqual(['a.crt']);
  });
});
