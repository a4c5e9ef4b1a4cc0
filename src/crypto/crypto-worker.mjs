/**
 * A thread of the crypto pool (crypto-pool.ts): runs one CPU-heavy operation at a time,
 * synchronously, so it never touches libuv's shared thread pool. Plain JavaScript importing only
 * node: modules, so it loads the same under tsx, vitest and plain node.
 *
 * Request: { id, task: { op, ...arguments } }. Reply: { id, ok: true, value } or
 * { id, ok: false, error: { name, message, code } }.
 *
 * It also holds the one definition of sealed secrets (SecretBox's format), which the main thread
 * imports: only a thread the pool started (marked by its workerData) answers requests.
 */
import { createCipheriv, createDecipheriv, randomBytes, generateKeyPairSync, hash, pbkdf2Sync, createPrivateKey, scryptSync } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/** What the pool passes as workerData to the threads it starts. */
export const POOL_THREAD = 'certmid-crypto-pool';

/** A sealed secret: `v1:` and the base64 of IV | GCM tag | ciphertext, AES-256-GCM. */
const SEALED_PREFIX = 'v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Hash block sizes (bytes) for the PKCS#12 KDF. */
const BLOCK_BYTES = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

const OPERATIONS = {
  generateKeyPair: ({ type, options }) => generateKeyPairSync(type, options).privateKey,
  pbkdf2: ({ password, salt, iterations, keylen, digest }) => pbkdf2Sync(password, salt, iterations, keylen, digest),
  scrypt: ({ password, salt, keylen, options }) => scryptSync(password, salt, keylen, options),
  pkcs12Kdf: ({ password, salt, iterations, id, length, hash: algorithm }) => pkcs12Kdf(password, salt, iterations, id, length, algorithm),
  decryptPkcs8: ({ der, passphrase }) => createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8', passphrase }),
  openSealedTexts: ({ key, sealed }) => openEach(key, sealed),
  generateSealedKeyPair: ({ type, options, sealingKey }) => generateSealed(type, options, sealingKey),
};

/**
 * A new key pair's private key, with what storing it needs, exported here rather than on the event
 * loop: its public key's SPKI DER and its PKCS#8 PEM sealed with `sealingKey`.
 */
function generateSealed(type, options, sealingKey) {
  const { privateKey, publicKey } = generateKeyPairSync(type, options);
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return { privateKey, spki, sealedPkcs8: sealText(sealingKey, privateKey.export({ type: 'pkcs8', format: 'pem' })) };
}

/** `plaintext` sealed with `key` (32 bytes) under a fresh IV. */
export function sealText(key, plaintext) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${SEALED_PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

/** The plaintext of a text `sealText` sealed with `key`; throws if it is not one or was altered. */
export function openSealed(key, sealed) {
  if (!sealed.startsWith(SEALED_PREFIX)) throw new Error('Not a sealed secret');
  // Lists open one per entry: no split or copies beyond what the cipher needs.
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  const body = decipher.update(raw.subarray(IV_BYTES + TAG_BYTES));
  // GCM gives everything from update; final only checks the tag.
  const rest = decipher.final();
  return (rest.length === 0 ? body : Buffer.concat([body, rest])).toString('utf8');
}

/**
 * Each sealed text opened with `key`, in order, or null for one that does not open: its error is
 * not kept (whoever needs it opens that one again), so no reply carries anything of a secret.
 */
function openEach(key, sealedTexts) {
  return sealedTexts.map((sealed) => {
    try {
      return openSealed(key, sealed);
    } catch {
      return null;
    }
  });
}

/**
 * RFC 7292 Appendix B.2 key derivation (no native implementation in Node); `id` 1 = key, 2 = IV,
 * 3 = MAC key.
 */
function pkcs12Kdf(password, salt, iterations, id, length, algorithm) {
  const v = BLOCK_BYTES[algorithm];
  if (!v) throw new Error(`PKCS#12 KDF with ${algorithm}`);
  const fill = (data) => {
    const out = Buffer.alloc(v * Math.ceil(data.length / v));
    for (let i = 0; i < out.length; i++) out[i] = data[i % data.length];
    return out;
  };
  const d = Buffer.alloc(v, id);
  const input = Buffer.concat([fill(Buffer.from(salt)), fill(Buffer.from(password))]);
  const blocks = [];
  for (let produced = 0; produced < length; ) {
    let a = hash(algorithm, Buffer.concat([d, input]), 'buffer');
    for (let i = 1; i < iterations; i++) a = hash(algorithm, a, 'buffer');
    blocks.push(a);
    produced += a.length;
    const b = fill(a).subarray(0, v);
    for (let offset = 0; offset < input.length; offset += v) addBlock(input, offset, b, v);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** I_j = (I_j + B + 1) mod 2^(8v), big-endian, in place. */
function addBlock(target, offset, b, v) {
  let carry = 1;
  for (let i = v - 1; i >= 0; i--) {
    const sum = target[offset + i] + b[i] + carry;
    target[offset + i] = sum & 0xff;
    carry = sum >> 8;
  }
}

/** Answers the pool's requests, one at a time. */
function serve() {
  parentPort.on('message', ({ id, task }) => {
    try {
      const operation = OPERATIONS[task.op];
      if (!operation) throw new Error(`Unknown crypto pool operation ${task.op}`);
      const value = operation(task);
      // A Buffer may be a view of a shared pool; send its bytes alone.
      parentPort.postMessage({ id, ok: true, value: value instanceof Uint8Array ? new Uint8Array(value) : value });
    } catch (error) {
      // Rebuilt on the main thread as the same kind of error; never the task, which may hold a secret.
      parentPort.postMessage({ id, ok: false, error: { name: error?.name ?? 'Error', message: String(error?.message ?? error), code: error?.code } });
    }
  });
}

// The main thread imports this module for the sealed format: only a pool thread answers requests.
if (workerData === POOL_THREAD) serve();
