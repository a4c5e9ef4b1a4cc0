import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Temporary files start with this; only we make such names, so leftovers of a crash are ours to remove. */
export const TEMPORARY_PREFIX = '.certmid-tmp-';

/**
 * Replaces `file` with `content` so that a reader sees the old file or the new one, never a part:
 * a temporary file in the same directory, created with the final mode (a key is never readable by
 * others, not even for a moment), synced, then renamed over the old one, and the directory synced
 * so the rename survives a power cut. With `owner`, the temporary file gets that owner first.
 */
export async function writeFileAtomically(file: string, content: string | Buffer, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  const directory = path.dirname(file);
  const temporary = path.join(directory, `${TEMPORARY_PREFIX}${randomBytes(8).toString('hex')}`);
  // 'wx': a name that exists (even a planted symlink) is never followed.
  const handle = await fs.open(temporary, 'wx', mode);
  try {
    try {
      await handle.writeFile(content);
      // The umask may have narrowed the mode open() was given; certificates must stay readable.
      await handle.chmod(mode);
      // Before the rename: the file never shows under its name with the wrong owner.
      if (owner) await handle.chown(owner.uid, owner.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
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
