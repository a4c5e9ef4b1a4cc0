import { createPrivateKey, createPublicKey, generateKeyPairSync, pbkdf2Sync, scryptSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { pkeyCheck } from '../../test/helpers/openssl.js';
import { SecretBox } from '../secrets.js';
import { CryptoPool, CryptoPoolClosedError, cryptoPool, defaultPoolSize, holdCryptoPool, type CryptoTask } from './crypto-pool.js';

const pools: CryptoPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function newPool(threads: number, keyThreads: number, workerUrl?: URL): CryptoPool {
  const pool = new CryptoPool({ threads, keyThreads }, workerUrl);
  pools.push(pool);
  return pool;
}

const rsa = (modulusLength: number): CryptoTask<'generateKeyPair'> => ({ op: 'generateKeyPair', type: 'rsa', options: { modulusLength, publicExponent: 0x10001 } });
const quickPbkdf2 = (password: string): CryptoTask<'pbkdf2'> => ({ op: 'pbkdf2', password: Buffer.from(password), salt: Buffer.from('salt'), iterations: 1, keylen: 32, digest: 'sha256' });

/** Polls `condition` until it holds, failing after 20 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() - started > 20_000) throw new Error('condition not met within 20 s');
  }
}

/** What a synchronous call throws, to compare with what the pool rejects with. */
function thrownBy(work: () => unknown): Error & { code?: string } {
  try {
    work();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('defaultPoolSize', () => {
  it('lets RSA keys use every core up to four and keeps one thread more for bounded work', () => {
    expect(defaultPoolSize(1)).toEqual({ threads: 2, keyThreads: 1 });
    expect(defaultPoolSize(2)).toEqual({ threads: 3, keyThreads: 2 });
    expect(defaultPoolSize(64)).toEqual({ threads: 5, keyThreads: 4 });
  });
});

describe('CryptoPool results', () => {
  it('generates RSA, EC and Ed25519 private keys that openssl checks', async () => {
    const pool = newPool(2, 1);
    const [rsaKey, ecKey, edKey] = await Promise.all([
      pool.run(rsa(2048)),
      pool.run({ op: 'generateKeyPair', type: 'ec', options: { namedCurve: 'secp384r1' } }),
      pool.run({ op: 'generateKeyPair', type: 'ed25519', options: {} }),
    ]);
    expect(rsaKey.type).toBe('private');
    expect(rsaKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });
    expect(ecKey.asymmetricKeyDetails).toEqual({ namedCurve: 'secp384r1' });
    expect(edKey.asymmetricKeyType).toBe('ed25519');
    for (const key of [rsaKey, ecKey, edKey]) expect(await pkeyCheck(key.export({ type: 'pkcs8', format: 'pem' }).toString())).toBe(true);
  });

  it('derives exactly what node derives on the calling thread (PBKDF2, scrypt) and decrypts PKCS#8 as OpenSSL does', async () => {
    const pool = newPool(1, 1);
    const salt = Buffer.from('0011223344556677', 'hex');
    const pbkdf2 = await pool.run({ op: 'pbkdf2', password: Buffer.from('pw'), salt, iterations: 10_000, keylen: 48, digest: 'sha384' });
    expect(Buffer.from(pbkdf2)).toEqual(pbkdf2Sync('pw', salt, 10_000, 48, 'sha384'));
    const scrypt = await pool.run({ op: 'scrypt', password: Buffer.from('pw'), salt, keylen: 32, options: { N: 1024, r: 8, p: 1 } });
    expect(Buffer.from(scrypt)).toEqual(scryptSync('pw', salt, 32, { N: 1024, r: 8, p: 1 }));

    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: 'secret' });
    const decrypted = await pool.run({ op: 'decryptPkcs8', der, passphrase: 'secret' });
    expect(createPublicKey(decrypted).export({ type: 'spki', format: 'der' })).toEqual(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  });

  it('opens sealed texts in order, null for each that does not open, and never answers with the key or a plaintext', async () => {
    const pool = newPool(1, 1);
    const key = Buffer.alloc(32, 3);
    const box = SecretBox.fromKey(key);
    const good = [box.encrypt('first secret'), box.encrypt('second secret')];
    const altered = `${good[0]!.slice(0, -6)}AAAA==`;
    expect(await pool.run({ op: 'openSealedTexts', key, sealed: [good[0]!, altered, 'not sealed', good[1]!] })).toEqual(['first secret', null, null, 'second secret']);
    // A wrong key, or no AES-256 key at all: nothing opens, and no error carries what was sent.
    expect(await pool.run({ op: 'openSealedTexts', key: Buffer.alloc(32, 4), sealed: good })).toEqual([null, null]);
    expect(await pool.run({ op: 'openSealedTexts', key: Buffer.alloc(5, 3), sealed: good })).toEqual([null, null]);
  });

  it('sends the bytes of a Buffer alone, not the shared memory it is a view of', async () => {
    const pool = newPool(1, 1);
    const backing = Buffer.from('prefix-password-suffix');
    const view = backing.subarray(7, 15);
    const derived = await pool.run({ op: 'pbkdf2', password: view, salt: Buffer.from('salt'), iterations: 1, keylen: 16, digest: 'sha256' });
    expect(Buffer.from(derived)).toEqual(pbkdf2Sync('password', 'salt', 1, 16, 'sha256'));
  });
});

describe('CryptoPool errors', () => {
  it('rejects with the error type, message and code node throws for the same call', async () => {
    const pool = newPool(1, 1);
    const cases: Array<[CryptoTask, () => unknown]> = [
      [{ op: 'generateKeyPair', type: 'ec', options: { namedCurve: 'no-such-curve' } }, () => generateKeyPairSync('ec', { namedCurve: 'no-such-curve' })],
      [{ op: 'pbkdf2', password: Buffer.from('pw'), salt: Buffer.from('salt'), iterations: 1, keylen: 16, digest: 'no-such-digest' }, () => pbkdf2Sync('pw', 'salt', 1, 16, 'no-such-digest')],
      [{ op: 'scrypt', password: Buffer.from('pw'), salt: Buffer.from('salt'), keylen: 16, options: { N: 3, r: 8, p: 1 } }, () => scryptSync('pw', 'salt', 16, { N: 3, r: 8, p: 1 })],
    ];
    for (const [task, sync] of cases) {
      const expected = thrownBy(sync);
      const actual = await pool.run(task).then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(actual).toBeInstanceOf(expected.constructor);
      expect(actual).toMatchObject({ name: expected.name, message: expected.message, code: expected.code });
    }
  });

  it('rejects a wrong passphrase with the OpenSSL error the calling thread would see', async () => {
    const pool = newPool(1, 1);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: 'secret' });
    const expected = thrownBy(() => createPrivateKey({ key: der, format: 'der', type: 'pkcs8', passphrase: 'wrong' }));
    await expect(pool.run({ op: 'decryptPkcs8', der, passphrase: 'wrong' })).rejects.toMatchObject({ message: expected.message, code: expected.code });
  });

  it('fails the task of a thread that stops, and starts a new thread for the next', async () => {
    const pool = newPool(1, 1, new URL('../../test/fakes/exiting-crypto-worker.mjs', import.meta.url));
    const first = pool.run(quickPbkdf2('a'));
    const second = pool.run(quickPbkdf2('b'));
    await expect(first).rejects.toThrow('A crypto pool thread stopped unexpectedly');
    // The replacement thread stops as well: it was started and took the waiting task.
    await expect(second).rejects.toThrow('A crypto pool thread stopped unexpectedly');
    expect(pool.stats()).toMatchObject({ threads: 0, queued: 0 });
  });
});

describe('CryptoPool bounds', () => {
  it('runs at most `threads` tasks, RSA keys on at most `keyThreads`, and bounded work beside them', async () => {
    const pool = newPool(3, 2);
    const keys = Array.from({ length: 4 }, () => pool.run(rsa(2048)));
    // Dispatch is synchronous: two keys start, two wait, and one thread stays free.
    expect(pool.stats()).toEqual({ threads: 2, running: 2, keys: 2, queued: 2 });
    const derived = pool.run(quickPbkdf2('pw'));
    expect(pool.stats()).toEqual({ threads: 3, running: 3, keys: 2, queued: 2 });

    let worst = { running: 0, keys: 0 };
    const sampler = setInterval(() => {
      const { running, keys: keysRunning } = pool.stats();
      worst = { running: Math.max(worst.running, running), keys: Math.max(worst.keys, keysRunning) };
    }, 1);
    try {
      await derived;
      await Promise.all(keys);
    } finally {
      clearInterval(sampler);
    }
    expect(worst.running).toBeLessThanOrEqual(3);
    expect(worst.keys).toBeLessThanOrEqual(2);
    expect(pool.stats()).toEqual({ threads: 3, running: 0, keys: 0, queued: 0 });
  });
});

describe('CryptoPool idle threads', () => {
  const IDLE_MS = 200;

  it('stops a thread idle for `idleMs` and starts one again for the next task', async () => {
    const pool = new CryptoPool({ threads: 2, keyThreads: 1 }, undefined, IDLE_MS);
    pools.push(pool);
    await pool.run(quickPbkdf2('pw'));
    expect(pool.stats().threads).toBe(1);
    await waitFor(() => pool.stats().threads === 0);
    expect(Buffer.from(await pool.run(quickPbkdf2('pw')))).toEqual(pbkdf2Sync('pw', 'salt', 1, 32, 'sha256'));
    expect(pool.stats().threads).toBe(1);
  });

  it('never stops a thread while it computes', async () => {
    const pool = new CryptoPool({ threads: 2, keyThreads: 1 }, new URL('../../test/fakes/holding-crypto-worker.mjs', import.meta.url), IDLE_MS);
    pools.push(pool);
    // Never answered: its thread stays busy until the pool closes (afterEach), which rejects it.
    const held = pool.run(rsa(2048)).catch((error: unknown) => error);
    await pool.run(quickPbkdf2('pw'));
    await waitFor(() => pool.stats().threads === 1);
    await new Promise((resolve) => setTimeout(resolve, 5 * IDLE_MS));
    expect(pool.stats()).toEqual({ threads: 1, running: 1, keys: 1, queued: 0 });
    await pool.close();
    expect(await held).toBeInstanceOf(CryptoPoolClosedError);
  });
});

describe('CryptoPool aborts', () => {
  it('rejects at once with the signal reason: a waiting task leaves the queue, a running one is dropped when its thread answers', async () => {
    const pool = newPool(1, 1);
    const running = new AbortController();
    const waiting = new AbortController();
    const first = pool.run(rsa(2048), running.signal);
    const second = pool.run(rsa(2048), waiting.signal);
    expect(pool.stats()).toMatchObject({ running: 1, queued: 1 });

    waiting.abort(new Error('second aborted'));
    expect(pool.stats()).toMatchObject({ running: 1, queued: 0 });
    running.abort(new Error('first aborted'));
    // The first key is still being computed: its thread counts as busy, so the pool stays within its size.
    const after = pool.run(quickPbkdf2('pw'));
    expect(pool.stats()).toMatchObject({ threads: 1, running: 1, queued: 1 });

    await expect(second).rejects.toThrow('second aborted');
    await expect(first).rejects.toThrow('first aborted');
    expect(Buffer.from(await after)).toEqual(pbkdf2Sync('pw', 'salt', 1, 32, 'sha256'));
  });

  it('refuses a task whose signal is already aborted without running it', async () => {
    const pool = newPool(1, 1);
    await expect(pool.run(rsa(2048), AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
    expect(pool.stats()).toEqual({ threads: 0, running: 0, keys: 0, queued: 0 });
  });
});

describe('CryptoPool shutdown', () => {
  it('rejects running and waiting tasks, stops its threads and refuses new tasks', async () => {
    const pool = new CryptoPool({ threads: 1, keyThreads: 1 });
    const running = pool.run(rsa(2048));
    const waiting = pool.run(quickPbkdf2('pw'));
    const closed = pool.close();
    await expect(running).rejects.toBeInstanceOf(CryptoPoolClosedError);
    await expect(waiting).rejects.toThrow('The crypto thread pool is closed');
    await closed;
    expect(pool.stats()).toEqual({ threads: 0, running: 0, keys: 0, queued: 0 });
    await expect(pool.run(quickPbkdf2('pw'))).rejects.toBeInstanceOf(CryptoPoolClosedError);
  });

  it('closes the shared pool when its last holder lets go, and makes a new one on next use', async () => {
    const releaseFirst = holdCryptoPool();
    const releaseSecond = holdCryptoPool();
    const pool = cryptoPool();
    await pool.run(quickPbkdf2('pw'));
    await releaseFirst();
    await releaseFirst(); // letting go twice counts once
    expect(pool.stats().threads).toBe(1);
    await pool.run(quickPbkdf2('pw'));
    await releaseSecond();
    expect(pool.stats().threads).toBe(0);
    await expect(pool.run(quickPbkdf2('pw'))).rejects.toBeInstanceOf(CryptoPoolClosedError);
    const releaseThird = holdCryptoPool();
    const next = cryptoPool();
    expect(next).not.toBe(pool);
    expect(Buffer.from(await next.run(quickPbkdf2('pw')))).toEqual(pbkdf2Sync('pw', 'salt', 1, 32, 'sha256'));
    await releaseThird();
  });
});
