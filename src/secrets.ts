import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDirectory, restrictFiles } from './private-files.js';

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED_PREFIX = `${VERSION}:`;

/**
 * AES-256-GCM encryption of secrets at rest (private keys, passphrases, credentials) and of job
 * arguments placed in Redis. The master key comes from MASTER_KEY or DATA_DIR/master.key (0600).
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** From MASTER_KEY (base64 of 32 bytes) or the key file in `dataDir`, creating it on first start. */
  static open(dataDir: string, masterKey: string | undefined): SecretBox {
    if (masterKey) return new SecretBox(decodeKey(masterKey, 'MASTER_KEY'));
    const file = path.join(dataDir, 'master.key');
    ensurePrivateDirectory(dataDir);
    if (!fs.existsSync(file)) {
      // `wx` fails if another process created it meanwhile; then we read theirs.
      try {
        fs.writeFileSync(file, randomBytes(KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    restrictFiles(file);
    return new SecretBox(decodeKey(fs.readFileSync(file, 'utf8').trim(), file));
  }

  /** A box for a key held elsewhere, such as the master key of a backup being restored. */
  static fromKey(key: Buffer): SecretBox {
    return new SecretBox(decodeKey(key.toString('base64'), 'the key'));
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** A key for one purpose (e.g. the audit chain's MAC), derived from the master key with HKDF-SHA256. */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `certmid ${purpose}`, KEY_BYTES));
  }

  decrypt(sealed: string): string {
    if (!sealed.startsWith(SEALED_PREFIX)) throw new Error('Not a sealed secret');
    // Lists decrypt a key per entry: no split or copies beyond what the cipher needs.
    const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const body = decipher.update(raw.subarray(IV_BYTES + TAG_BYTES));
    // GCM gives everything from update; final only checks the tag.
    const rest = decipher.final();
    return (rest.length === 0 ? body : Buffer.concat([body, rest])).toString('utf8');
  }
}

function decodeKey(encoded: string, source: string): Buffer {
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${source} must hold ${KEY_BYTES} bytes in base64`);
  return key;
}

/** Keys whose values are secret wherever they appear in method arguments. */
export const SECRET_KEYS = new Set([
  'password',
  // TrueNAS's SMTP password (mail.update, mail.send).
  'pass',
  'passphrase',
  'privatekey',
  'private_key',
  'api_key',
  'key',
  'token',
  'secret',
  'tsig_secret',
  'api_token',
  'secret_access_key',
  'application_secret',
  'consumer_key',
  'hmac_key',
  'eab_hmac_key',
  'otp_token',
]);

export const REDACTED = '********';

/** A deep copy of `value` with every secret-named key's value replaced by "********". */
export function redactSecrets(value: unknown, secretKeys: ReadonlySet<string> = SECRET_KEYS): unknown {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, secretKeys));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        secretKeys.has(key) && item !== null && item !== undefined ? REDACTED : redactSecrets(item, secretKeys),
      ]),
    );
  }
  return value;
}
