/**
 * Audit reports as TrueNAS makes them: `audit.export` writes the entries a query selects to a file
 * of the caller's own (CSV, JSON or YAML) and returns its path; `audit.download_report` hands that
 * file, by name, to the same user only.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../app.js';
import { stringify } from '../client/ejson.js';
import { ensurePrivateDirectory } from '../private-files.js';

export const EXPORT_FORMATS = ['CSV', 'JSON', 'YAML'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The directory of one user's reports (usernames are plain names, but never trusted as paths). */
function reportsDirOf(app: App, username: string): string {
  return path.join(app.config.dataDir, 'audit-reports', encodeURIComponent(username));
}

/** One CSV field: quoted when it must be, and a leading formula character defused for spreadsheets. */
function csvField(value: unknown): string {
  let text = value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(entries: readonly Record<string, unknown>[]): string {
  const columns = Object.keys(entries[0] ?? {});
  return [columns.join(','), ...entries.map((entry) => columns.map((column) => csvField(entry[column])).join(','))].join('\r\n') + '\r\n';
}

/** The report's text. YAML is written as JSON, which every YAML 1.2 reader reads. */
export function formatReport(entries: readonly Record<string, unknown>[], format: ExportFormat): string {
  return format === 'CSV' ? toCsv(entries) : `${stringify(entries, 4)}\n`;
}

/** Writes a report for `username` and returns its path. */
export function writeReport(app: App, username: string, format: ExportFormat, text: string): string {
  const dir = reportsDirOf(app, username);
  ensurePrivateDirectory(path.dirname(dir));
  ensurePrivateDirectory(dir);
  const file = path.join(dir, `${randomUUID()}.${format.toLowerCase()}`);
  fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  return file;
}

/** The report `name` of `username`, or null when that user has no such report. */
export function readReport(app: App, username: string, name: string): Buffer | null {
  if (!/^[0-9a-f-]{36}\.(csv|json|yaml)$/.test(name)) return null;
  try {
    return fs.readFileSync(path.join(reportsDirOf(app, username), name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Removes reports older than `maxAgeMs`. */
export function removeOldReports(app: App, maxAgeMs: number, now = Date.now()): void {
  const root = path.join(app.config.dataDir, 'audit-reports');
  if (!fs.existsSync(root)) return;
  for (const user of fs.readdirSync(root, { withFileTypes: true })) {
    if (!user.isDirectory()) continue;
    for (const report of fs.readdirSync(path.join(root, user.name), { withFileTypes: true })) {
      const file = path.join(root, user.name, report.name);
      if (report.isFile() && now - fs.statSync(file).mtimeMs > maxAgeMs) fs.rmSync(file, { force: true });
    }
  }
}
