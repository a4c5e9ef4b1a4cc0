import fs from 'node:fs';

/** Creates `dir` (with its parents) readable by the owner only, and tightens it when it was looser. */
export function ensurePrivateDirectory(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/** Makes each of `files` that exists readable and writable by the owner only. */
export function restrictFiles(...files: string[]): void {
  for (const file of files) {
    try {
      fs.chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Creates `file` empty with mode 0600 unless it exists, and makes it 0600 either way. */
export function ensurePrivateFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
}
