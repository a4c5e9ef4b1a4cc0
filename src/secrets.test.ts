import { createPublicKey } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CryptoPool } from './crypto/crypto-pool.js';
import { describeKey, exportPrivateKeyPem, spkiDer, type KeySpec } from './crypto/keys.js';
import { SecretBox } from './secrets.js';

const pools: CryptoPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function newPool(workerUrl?: URL): CryptoPool {
  const pool = new CryptoPool({ threads: 1, keyThreads: 1 }, workerUrl);
  pools.push(pool);
  return pool;
}

const box = SecretBox.fromKey(Buffer.alloc(32, 7));
const pem = (i: number) => `-----BEGIN PRIVATE KEY-----\nkey ${i}\n-----END PRIVATE KEY-----\n`;

/** `sealed` with the last byte of its ciphertext changed, as a tampered row holds it. */
function tampered(sealed: string): string {
  const raw = Buffer.from(sealed.slice('v1:'.length), 'base64');
  raw[raw.length - 1]! ^= 1;
  return `v1:${raw.toString('base64')}`;
}

/** What `decrypt` throws for `sealed`. */
function decryptError(sealed: string): unknown {
  try {
    box.decrypt(sealed);
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/** Ten sealed keys, one tampered and one not sealed at all, and what opens of them. */
function batch(): { texts: string[]; expected: Map<string, string> } {
  const texts = Array.from({ length: 10 }, (_, i) => box.encrypt(pem(i)));
  const expected = new Map(texts.map((text, i) => [text, pem(i)]));
  texts.push(tampered(box.encrypt(pem(10))), 'plain text');
  return { texts, expected };
}

describe('SecretBox', () => {
  it.each<[string, KeySpec, string, number]>([
    ['EC P-256', { keyType: 'EC', curve: 'SECP256R1' }, 'EC', 256],
    ['EC P-384', { keyType: 'EC', curve: 'SECP384R1' }, 'EC', 384],
    ['Ed25519', { keyType: 'EC', curve: 'ed25519' }, 'EC', 32],
    ['RSA-2048', { keyType: 'RSA', keyLength: 2048 }, 'RSA', 2048],
  ])('makes a %s key on the pool with its PEM sealed there and its SPKI', async (_label, spec, keyType, keyLength) => {
    const { key, sealed } = await box.generateSealedKey(spec);
    expect(describeKey(key)).toEqual({ keyType, keyLength });
    // The sealed text is the key's own PKCS#8 PEM, sealed as `encrypt` seals.
    expect(sealed).toMatch(/^v1:/);
    expect(box.decrypt(sealed)).toBe(exportPrivateKeyPem(key));
    expect(spkiDer(key)).toEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    // Another box cannot open it.
    expect(() => SecretBox.fromKey(Buffer.alloc(32, 8)).decrypt(sealed)).toThrow();
  });

  it('opens what it seals, and a text sealed before (format v1)', () => {
    expect(box.decrypt(box.encrypt(pem(1)))).toBe(pem(1));
    const earlier = 'v1:3s+3yHS1pztAp2CuXEmTwrHykL7BLZhi6WLRv/slRnOblaukeNbOcGDG0kwRVa45j9cga7jXSizIxO+fqZFVfv1UFV5RFyTtcE+3hLEhouX4uagJYLjP5ln4Z9KcHICl';
    expect(box.decrypt(earlier)).toBe('-----BEGIN PRIVATE KEY-----\nsealed before\n-----END PRIVATE KEY-----\n');
    expect(decryptError(tampered(earlier))).toMatchObject({ message: 'Unsupported state or unable to authenticate data' });
    expect(decryptError('plain text')).toMatchObject({ message: 'Not a sealed secret' });
  });

  it('opens many sealed texts in one task on a pool thread, leaving out those that do not open', async () => {
    const pool = newPool();
    const { texts, expected } = batch();
    const opening = box.decryptMany(texts, pool);
    // Handed to the thread before the call returns: one task for the whole batch.
    expect(pool.stats()).toMatchObject({ threads: 1, running: 1, queued: 0 });
    expect(await opening).toEqual(expected);
  });

  it('opens a few (fewer than eight distinct) on the calling thread, without the pool', async () => {
    const pool = newPool();
    const sealed = box.encrypt(pem(1));
    const texts = [sealed, ...Array.from({ length: 6 }, (_, i) => box.encrypt(pem(i + 2))), sealed, sealed];
    const opened = await box.decryptMany(texts, pool);
    expect(opened.size).toBe(7);
    expect(opened.get(sealed)).toBe(pem(1));
    expect(pool.stats()).toMatchObject({ threads: 0, running: 0 });
  });

  it('opens the batch on the calling thread when the pool is closed, before or during it', async () => {
    const { texts, expected } = batch();
    const closed = newPool();
    await closed.close();
    expect(await box.decryptMany(texts, closed)).toEqual(expected);

    const closing = newPool();
    const opening = box.decryptMany(texts, closing);
    expect(closing.stats()).toMatchObject({ running: 1 });
    await closing.close();
    expect(await opening).toEqual(expected);
  });

  it('opens the batch on the calling thread when the pool thread stops during it', async () => {
    const pool = newPool(new URL('../test/fakes/exiting-crypto-worker.mjs', import.meta.url));
    const { texts, expected } = batch();
    const opening = box.decryptMany(texts, pool);
    expect(pool.stats()).toMatchObject({ running: 1 });
    expect(await opening).toEqual(expected);
  });
});
