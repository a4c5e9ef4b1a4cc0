/**
 * The backup file. Plain: gzip of one JSON document (`BackupDocument`). Encrypted (always when it
 * holds the master key): a text header naming the cipher and the KDF with its salt, then the
 * gzip bytes under AES-256-GCM with a key derived from the passphrase by scrypt; the header is
 * authenticated with the content, so neither can be altered unnoticed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { z } from 'zod';
import { scryptOffThread } from '../crypto/crypto-pool.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import type { Cell } from './rows.js';

export const BACKUP_FORMAT = 'certmid-backup';
export const BACKUP_VERSION = 1;

/** Where errors about the file and about its passphrase are reported (the params of config.upload). */
export const FILE_ATTRIBUTE = 'file';
export const PASSPHRASE_ATTRIBUTE = 'options.passphrase';

const MAGIC = Buffer.from('CERTMID-BACKUP-ENCRYPTED\n');
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
/** scrypt at N=2^17, r=8: 128 MiB and a fraction of a second per guess. */
const SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
/** What a file may ask of the KDF: enough for stronger settings, not enough to exhaust the daemon. */
const SCRYPT_LIMITS = { minLogN: 14, maxLogN: 18, maxR: 16, maxP: 4, maxMemory: 256 * 1024 * 1024 };
/** The decompressed document may not exceed this, so a small file cannot expand without bound. */
const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;
const HEADER_MAX_BYTES = 1024;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

const CellSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const TableSchema = z
  .strictObject({ columns: z.array(z.string()), rows: z.array(z.array(CellSchema)) })
  .refine((table) => table.rows.every((row) => row.length === table.columns.length), 'a row does not have one value per column');

const DocumentSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_VERSION),
  created_at: z.string(),
  source: z.strictObject({ database: z.enum(['sqlite', 'postgres']) }),
  migrations: z.array(z.string()),
  master_key_id: z.string(),
  master_key: z.string().optional(),
  tables: z.record(z.string(), TableSchema),
});

/** Everything a backup holds. */
export interface BackupDocument {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  created_at: string;
  /** The database it was made from; informative, the rows read the same on both. */
  source: { database: 'sqlite' | 'postgres' };
  /** The schema: the migrations applied to the database it was made from, oldest first. */
  migrations: string[];
  /** Which master key the sealed values are sealed with (`masterKeyId`). */
  master_key_id: string;
  /** That key (base64), only when asked for (`secretseed`); the file is then always encrypted. */
  master_key?: string;
  tables: Record<string, { columns: string[]; rows: Cell[][] }>;
}

const HeaderSchema = z.strictObject({
  cipher: z.literal('aes-256-gcm'),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    N: z.number().int(),
    r: z.number().int(),
    p: z.number().int(),
    salt: z.string(),
  }),
  iv: z.string(),
});
type Header = z.infer<typeof HeaderSchema>;

function damaged(why: string): ValidationErrors {
  return new ValidationErrors().add(FILE_ATTRIBUTE, `The backup is damaged: ${why}`);
}

/** The backup file for `document`, encrypted when a passphrase is given. */
export async function encodeBackup(document: BackupDocument, passphrase: string | null): Promise<Buffer> {
  const packed = await gzip(Buffer.from(JSON.stringify(document)));
  return passphrase === null ? packed : encrypt(packed, passphrase);
}

/** Whether a backup file is encrypted (and so needs a passphrase to be read). */
export function isEncrypted(file: Buffer): boolean {
  return file.subarray(0, MAGIC.length).equals(MAGIC);
}

/**
 * The document in a backup file.
 * @throws ValidationErrors at `file` (not a backup, damaged, too new) or `options.passphrase`
 *   (missing or wrong).
 */
export async function decodeBackup(file: Buffer, passphrase: string | null): Promise<BackupDocument> {
  let packed: Buffer;
  if (isEncrypted(file)) {
    if (passphrase === null) throw new ValidationErrors().add(PASSPHRASE_ATTRIBUTE, 'The backup is encrypted: its passphrase is required');
    packed = await decrypt(file, passphrase);
  } else if (file.subarray(0, 2).equals(GZIP_MAGIC)) {
    packed = file;
  } else {
    throw new ValidationErrors().add(FILE_ATTRIBUTE, 'Not a certmid backup');
  }
  let text: string;
  try {
    text = (await gunzip(packed, { maxOutputLength: MAX_DOCUMENT_BYTES })).toString('utf8');
  } catch (error) {
    throw damaged((error as Error).message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('its content is not JSON');
  }
  checkFormat(raw);
  const parsed = DocumentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw damaged(`${issue.path.join('.') || 'document'}: ${issue.message}`);
  }
  return parsed.data as BackupDocument;
}

/** A newer format is named as such, not as damage. */
function checkFormat(raw: unknown): void {
  const { format, version } = (raw ?? {}) as { format?: unknown; version?: unknown };
  if (format !== BACKUP_FORMAT) throw damaged('it does not say it is a certmid backup');
  if (typeof version === 'number' && version > BACKUP_VERSION) {
    throw new ValidationErrors().add(FILE_ATTRIBUTE, `The backup was made by a newer certmid (backup format ${version}; this version reads ${BACKUP_VERSION}): upgrade certmid first`);
  }
}

async function deriveKey(passphrase: string, kdf: Header['kdf']): Promise<Buffer> {
  const salt = Buffer.from(kdf.salt, 'base64');
  return scryptOffThread(Buffer.from(passphrase, 'utf8'), salt, KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT_LIMITS.maxMemory + 1024 * 1024 });
}

async function encrypt(packed: Buffer, passphrase: string): Promise<Buffer> {
  const header: Header = {
    cipher: 'aes-256-gcm',
    kdf: { name: 'scrypt', ...SCRYPT, salt: randomBytes(SALT_BYTES).toString('base64') },
    iv: randomBytes(IV_BYTES).toString('base64'),
  };
  const head = Buffer.concat([MAGIC, Buffer.from(`${JSON.stringify(header)}\n`)]);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, header.kdf), Buffer.from(header.iv, 'base64'));
  cipher.setAAD(head);
  const body = Buffer.concat([cipher.update(packed), cipher.final()]);
  return Buffer.concat([head, body, cipher.getAuthTag()]);
}

/** The header after the magic line: one line of JSON, checked before any key is derived from it. */
function readHeader(file: Buffer): { header: Header; length: number } {
  const end = file.indexOf(0x0a, MAGIC.length);
  if (end < 0 || end - MAGIC.length > HEADER_MAX_BYTES) throw damaged('its encryption header cannot be read');
  let parsed;
  try {
    parsed = HeaderSchema.safeParse(JSON.parse(file.subarray(MAGIC.length, end).toString('utf8')));
  } catch {
    throw damaged('its encryption header cannot be read');
  }
  if (!parsed.success) throw damaged('its encryption header cannot be read');
  const { N, r, p, salt } = parsed.data.kdf;
  const logN = Math.log2(N);
  const limits = SCRYPT_LIMITS;
  if (!Number.isInteger(logN) || logN < limits.minLogN || logN > limits.maxLogN || r < 1 || r > limits.maxR || p < 1 || p > limits.maxP || 128 * N * r > limits.maxMemory) {
    throw damaged('its key derivation settings are out of bounds');
  }
  if (Buffer.from(salt, 'base64').length < SALT_BYTES || Buffer.from(parsed.data.iv, 'base64').length !== IV_BYTES) throw damaged('its encryption header cannot be read');
  return { header: parsed.data, length: end + 1 };
}

async function decrypt(file: Buffer, passphrase: string): Promise<Buffer> {
  const { header, length } = readHeader(file);
  if (file.length < length + TAG_BYTES) throw damaged('it is cut short');
  const decipher = createDecipheriv('aes-256-gcm', await deriveKey(passphrase, header.kdf), Buffer.from(header.iv, 'base64'));
  decipher.setAAD(file.subarray(0, length));
  decipher.setAuthTag(file.subarray(file.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(file.subarray(length, file.length - TAG_BYTES)), decipher.final()]);
  } catch {
    // GCM cannot tell a wrong key from altered bytes.
    throw new ValidationErrors().add(PASSPHRASE_ATTRIBUTE, 'Wrong passphrase, or the backup was altered');
  }
}
