import { hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generateSealedKeyOffThread, openSealedOffThread, type CryptoPool } from './crypto/crypto-pool.js';
import { keyGenerationOf, rememberSpki, type KeySpec } from './crypto/keys.js';
// The sealed format is defined once, where the crypto pool's threads open it too.
import { openSealed, sealText } from './crypto/crypto-worker.mjs';
import { ensurePrivateDirectory, restrictFiles } from './private-files.js';

const KEY_BYTES = 32;
/**
 * Fewer sealed texts than this open on the calling thread: a round trip to a pool thread costs the
 * event loop about 70 µs and 2 µs a text, opening one here 9 µs (up to 40 in a busy daemon).
 */
const OFF_THREAD_MIN = 8;

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
    return sealText(this.key, plaintext);
  }

  /** A key for one purpose (e.g. the audit chain's MAC), derived from the master key with HKDF-SHA256. */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `certmid ${purpose}`, KEY_BYTES));
  }

  decrypt(sealed: string): string {
    return openSealed(this.key, sealed);
  }

  /**
   * The plaintexts of the sealed texts that open, by sealed text; one that does not is left out, so
   * that `decrypt` throws its error where it is needed. Many open on the crypto pool (`pool`: the
   * process's unless given), off the event loop; a few open here, and so do all of them when the
   * pool fails the batch (closed, a thread stopped).
   */
  async decryptMany(sealed: readonly string[], pool?: CryptoPool): Promise<Map<string, string>> {
    const texts = [...new Set(sealed)];
    const opened = texts.length < OFF_THREAD_MIN ? this.openHere(texts) : await this.openOffThread(texts, pool);
    return new Map(texts.flatMap((text, i) => (opened[i] === null ? [] : [[text, opened[i]!] as const])));
  }

  /**
   * A new private key of `spec`, made on the crypto pool with its PKCS#8 PEM sealed there as
   * `encrypt` seals it: neither the key's export nor its sealing runs on the event loop.
   */
  async generateSealedKey(spec: KeySpec, signal?: AbortSignal): Promise<{ key: KeyObject; sealed: string }> {
    const made = await generateSealedKeyOffThread(keyGenerationOf(spec), this.key, signal);
    rememberSpki(made.privateKey, Buffer.from(made.spki));
    return { key: made.privateKey, sealed: made.sealedPkcs8 };
  }

  private async openOffThread(texts: readonly string[], pool: CryptoPool | undefined): Promise<Array<string | null>> {
    try {
      return await openSealedOffThread(this.key, texts, pool);
    } catch {
      // Whatever stopped the pool, the secrets are still wanted: open them here as before.
      return this.openHere(texts);
    }
  }

  private openHere(texts: readonly string[]): Array<string | null> {
    return texts.map((text) => {
      try {
        return this.decrypt(text);
      } catch {
        return null;
      }
    });
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
