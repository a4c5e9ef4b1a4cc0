import { afterAll, describe, expect, it } from 'vitest';
import { holdCryptoPool } from '../crypto/crypto-pool.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { BACKUP_FORMAT, BACKUP_VERSION, decodeBackup, encodeBackup, isEncrypted, type BackupDocument } from './archive.js';

const release = holdCryptoPool();
afterAll(() => release());

const document: BackupDocument = {
  format: BACKUP_FORMAT,
  version: BACKUP_VERSION,
  created_at: '2025-01-01T00:00:00.000Z',
  source: { database: 'sqlite' },
  migrations: ['UsersAndCredentials1764000000000'],
  master_key_id: '00'.repeat(16),
  master_key: Buffer.alloc(32, 1).toString('base64'),
  tables: { user: { columns: ['id', 'username', 'locked'], rows: [[1, 'admin', false]] } },
};

async function errorsOf(promise: Promise<unknown>): Promise<ValidationErrors['errors']> {
  const error = await promise.then(() => null, (rejection: unknown) => rejection);
  expect(error).toBeInstanceOf(ValidationErrors);
  return (error as ValidationErrors).errors;
}

/** The encrypted file with its header's JSON replaced. */
function withHeader(file: Buffer, edit: (header: Record<string, unknown>) => void, space?: number): Buffer {
  const magicEnd = file.indexOf(0x0a) + 1;
  const headerEnd = file.indexOf(0x0a, magicEnd);
  const header = JSON.parse(file.subarray(magicEnd, headerEnd).toString()) as Record<string, unknown>;
  edit(header);
  return Buffer.concat([file.subarray(0, magicEnd), Buffer.from(JSON.stringify(header, null, space).replace(/\n/g, '')), file.subarray(headerEnd)]);
}

describe('backup file', () => {
  it('reads back what it wrote, plain and encrypted', async () => {
    const plain = await encodeBackup(document, null);
    expect(isEncrypted(plain)).toBe(false);
    expect(await decodeBackup(plain, null)).toEqual(document);
    const encrypted = await encodeBackup(document, 'a passphrase');
    expect(isEncrypted(encrypted)).toBe(true);
    expect(encrypted.includes(Buffer.from('admin'))).toBe(false);
    expect(await decodeBackup(encrypted, 'a passphrase')).toEqual(document);
  });

  it('authenticates its header byte for byte, not only the settings the key comes from', async () => {
    const encrypted = await encodeBackup(document, 'a passphrase');
    // The same settings written with spaces: the key derived is the same, the header is not.
    const respaced = withHeader(encrypted, () => undefined, 1);
    expect(respaced.equals(encrypted)).toBe(false);
    expect(await errorsOf(decodeBackup(respaced, 'a passphrase'))).toEqual([['options.passphrase', 'Wrong passphrase, or the backup was altered', 22]]);
    expect(await decodeBackup(withHeader(encrypted, () => undefined), 'a passphrase')).toEqual(document);
  });

  it('refuses key derivation settings that would exhaust the daemon before deriving anything', async () => {
    const encrypted = await encodeBackup(document, 'a passphrase');
    for (const kdf of [{ N: 2 ** 30 }, { N: 3000 }, { r: 1000 }, { p: 64 }]) {
      const file = withHeader(encrypted, (header) => Object.assign(header.kdf as object, kdf));
      expect(await errorsOf(decodeBackup(file, 'a passphrase'))).toEqual([['file', 'The backup is damaged: its key derivation settings are out of bounds', 22]]);
    }
  });

  it('refuses a document whose rows do not match their columns', async () => {
    const bad = { ...document, tables: { user: { columns: ['id'], rows: [[1, 'extra']] } } };
    expect(await errorsOf(decodeBackup(await encodeBackup(bad as BackupDocument, null), null))).toEqual([
      ['file', 'The backup is damaged: tables.user: a row does not have one value per column', 22],
    ]);
  });
});
