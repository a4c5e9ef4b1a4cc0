import fs from 'node:fs/promises';
import path from 'node:path';
import { fileMatches, removeFile, TEMPORARY_PREFIX, writeFileAtomically, writeFilesAtomically, type FileToWrite } from './atomic-file.js';

/** Lists the files we wrote in a directory; anything not listed there is never touched. */
export const MANIFEST_NAME = '.certmid-manifest.json';
/**
 * Files added since the manifest was last written, one path a line: a change appends here rather
 * than rewriting a manifest as long as the table; the next full sync folds it back in.
 */
export const MANIFEST_ADDITIONS_NAME = '.certmid-manifest.added';
const DIRECTORY_MODE = 0o755;
/** A temporary file this old is a leftover of a crash, not a write in progress (of another writer). */
const STALE_TEMPORARY_MS = 10 * 60_000;

export interface DesiredFile {
  content: Buffer;
  mode: number;
}

/** A directory whose files of ours are kept equal to a desired set. */
export interface ManagedDirectory {
  root: string;
  /** Subdirectories (relative) files may go into; made with the root. */
  subdirectories: readonly string[];
  /**
   * Whether a relative path (with `/`) is one this directory may hold, e.g. `CA/x.crl`. A manifest
   * is a file on disk: a path it lists that fails this is ignored, never removed.
   */
  owns(relative: string): boolean;
}

export interface SyncResult {
  written: string[];
  removed: string[];
}

/**
 * Makes the directory hold exactly `desired` among the files we wrote: writes what differs
 * (atomically), removes what we wrote before and is no longer wanted, leaves everything else
 * alone. The manifest is extended before any new file is written and shrunk only after stale ones
 * are gone, so a crash at any point leaves no file of ours unlisted.
 */
export async function syncManagedDirectory(directory: ManagedDirectory, desired: ReadonlyMap<string, DesiredFile>): Promise<SyncResult> {
  for (const relative of desired.keys()) if (!directory.owns(relative)) throw new Error(`Refusing to write ${relative}: not a path of this directory`);
  await makeDirectories(directory);
  await removeStaleTemporaries(directory);
  const listed = await readManifest(directory);
  const wanted = new Set(desired.keys());
  const widened = new Set([...listed, ...wanted]);
  const manifest = widened.size > listed.size ? widened : listed;
  if (manifest === widened) await writeManifest(directory, widened);
  const result: SyncResult = { written: await writeDiffering(directory, desired), removed: [] };
  for (const relative of listed) {
    if (!wanted.has(relative) && (await removeFile(path.join(directory.root, relative)))) result.removed.push(relative);
  }
  // The additions are folded into the manifest before they go.
  const additions = path.join(directory.root, MANIFEST_ADDITIONS_NAME);
  if (!sameSet(manifest, wanted) || (await exists(additions))) await writeManifest(directory, wanted);
  await removeFile(additions);
  return result;
}

/**
 * Writes `write` (what differs) and removes `remove`, touching nothing else: the work of one
 * change, whatever else the directory holds. Paths new to the directory are listed (appended to
 * the additions) before they are written, so a crash leaves no file of ours unlisted. `remove`
 * must name only files of ours.
 */
export async function updateManagedFiles(directory: ManagedDirectory, write: ReadonlyMap<string, DesiredFile>, remove: readonly string[]): Promise<SyncResult> {
  for (const relative of [...write.keys(), ...remove]) if (!directory.owns(relative)) throw new Error(`Refusing to write ${relative}: not a path of this directory`);
  await makeDirectories(directory);
  const result: SyncResult = { written: [], removed: [] };
  for (const relative of remove) if (!write.has(relative) && (await removeFile(path.join(directory.root, relative)))) result.removed.push(relative);
  const added: string[] = [];
  for (const relative of write.keys()) if (!(await exists(path.join(directory.root, relative)))) added.push(relative);
  if (added.length > 0) await appendAdditions(directory, added);
  result.written = await writeDiffering(directory, write);
  return result;
}

/** Writes the files of `files` that differ from what is on disk, together (each directory synced once); the relative paths written. */
async function writeDiffering(directory: ManagedDirectory, files: ReadonlyMap<string, DesiredFile>): Promise<string[]> {
  const differing: string[] = [];
  const writes: FileToWrite[] = [];
  for (const [relative, { content, mode }] of files) {
    const file = path.join(directory.root, relative);
    if (await fileMatches(file, content, mode)) continue;
    differing.push(relative);
    writes.push({ file, content, mode });
  }
  await writeFilesAtomically(writes);
  return differing;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function appendAdditions(directory: ManagedDirectory, added: readonly string[]): Promise<void> {
  const handle = await fs.open(path.join(directory.root, MANIFEST_ADDITIONS_NAME), 'a', 0o644);
  try {
    await handle.appendFile(added.map((relative) => `${relative}\n`).join(''));
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function makeDirectories(directory: ManagedDirectory): Promise<void> {
  // The mode applies only to directories made here: an administrator's own choice is kept.
  await fs.mkdir(directory.root, { recursive: true, mode: DIRECTORY_MODE });
  for (const sub of directory.subdirectories) await fs.mkdir(path.join(directory.root, sub), { recursive: true, mode: DIRECTORY_MODE });
}

async function removeStaleTemporaries(directory: ManagedDirectory): Promise<void> {
  const cutoff = Date.now() - STALE_TEMPORARY_MS;
  for (const sub of ['', ...directory.subdirectories]) {
    const dir = path.join(directory.root, sub);
    for (const name of await fs.readdir(dir)) {
      if (!name.startsWith(TEMPORARY_PREFIX)) continue;
      const file = path.join(dir, name);
      const stat = await fs.lstat(file).catch(() => null);
      if (stat?.isFile() && stat.mtimeMs < cutoff) await removeFile(file);
    }
  }
}

/** The manifest's paths and the additions since; only paths this directory may hold. */
async function readManifest(directory: ManagedDirectory): Promise<Set<string>> {
  const listed = await readManifestFile(directory);
  const additions = await readOptional(path.join(directory.root, MANIFEST_ADDITIONS_NAME));
  for (const relative of additions?.split('\n') ?? []) if (relative && directory.owns(relative)) listed.add(relative);
  return listed;
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function readManifestFile(directory: ManagedDirectory): Promise<Set<string>> {
  const text = await readOptional(path.join(directory.root, MANIFEST_NAME));
  if (text === null) return new Set();
  let files: unknown;
  try {
    files = (JSON.parse(text) as { files?: unknown }).files;
  } catch {
    return new Set();
  }
  return new Set(Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string' && directory.owns(f)) : []);
}

async function writeManifest(directory: ManagedDirectory, files: ReadonlySet<string>): Promise<void> {
  const text = `${JSON.stringify({ files: [...files].sort() }, null, 1)}\n`;
  await writeFileAtomically(path.join(directory.root, MANIFEST_NAME), text, 0o644);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}
