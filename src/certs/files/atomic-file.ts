import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Temporary files start with this; only we make such names, so leftovers of a crash are ours to remove. */
export const TEMPORARY_PREFIX = '.certmid-tmp-';

/** One file to replace: its path, content and mode. */
export interface FileToWrite {
  file: string;
  content: string | Buffer;
  mode: number;
}

/**
 * Replaces `file` with `content` so that a reader sees the old file or the new one, never a part:
 * a temporary file in the same directory, created with the final mode (a key is never readable by
 * others, not even for a moment), synced, then renamed over the old one, and the directory synced
 * so the rename survives a power cut. With `owner`, the temporary file gets that owner first.
 */
export async function writeFileAtomically(file: string, content: string | Buffer, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  await writeFilesAtomically([{ file, content, mode }], owner);
}

/**
 * `writeFileAtomically` for several files: each is written and synced under a temporary name, then
 * all are renamed, and each directory is synced once rather than once per file. Each file is
 * replaced atomically; they are not replaced together.
 */
export async function writeFilesAtomically(files: readonly FileToWrite[], owner?: { uid: number; gid: number }): Promise<void> {
  const temporaries: Array<string | null> = [];
  try {
    for (const { file, content, mode } of files) temporaries.push(await writeTemporary(file, content, mode, owner));
    for (const [i, { file }] of files.entries()) {
      await fs.rename(temporaries[i]!, file);
      temporaries[i] = null;
    }
  } catch (error) {
    await Promise.all(temporaries.map((temporary) => temporary && fs.rm(temporary, { force: true })));
    throw error;
  }
  for (const directory of new Set(files.map(({ file }) => path.dirname(file)))) await syncDirectory(directory);
}

/** Writes and syncs `content` under a new temporary name beside `file`; that name. */
async function writeTemporary(file: string, content: string | Buffer, mode: number, owner?: { uid: number; gid: number }): Promise<string> {
  const temporary = path.join(path.dirname(file), `${TEMPORARY_PREFIX}${randomBytes(8).toString('hex')}`);
  // 'wx': a name that exists (even a planted symlink) is never followed.
  const handle = await fs.open(temporary, 'wx', mode);
  try {
    await handle.writeFile(content);
    // The umask may have narrowed the mode open() was given; certificates must stay readable.
    await handle.chmod(mode);
    // Before the rename: the file never shows under its name with the wrong owner.
    if (owner) await handle.chown(owner.uid, owner.gid);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  return temporary;
}

/** Removes `file` (a symlink itself, not what it points to); a file already gone is fine. */
export async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Whether `file` holds exactly `content` with exactly `mode` (permission bits). */
export async function fileMatches(file: string, content: Buffer, mode: number): Promise<boolean> {
  try {
    const stat = await fs.lstat(file);
    if (!stat.isFile() || (stat.mode & 0o7777) !== mode || stat.size !== content.length) return false;
    return (await fs.readFile(file)).equals(content);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems cannot fsync a directory; the rename itself is still atomic there.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}
