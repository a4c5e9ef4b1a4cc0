/**
 * A thread of the crypto pool (crypto-pool.ts): runs one CPU-heavy operation at a time,
 * synchronously, so it never touches libuv's shared thread pool. Plain JavaScript importing only
 * node: modules, so it loads the same under tsx, vitest and plain node.
 *
 * Request: { id, task: { op, ...arguments } }. Reply: { id, ok: true, value } or
 * { id, ok: false, error: { name, message, code } }.
 */
import { generateKeyPairSync, hash, pbkdf2Sync, createPrivateKey, scryptSync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** Hash block sizes (bytes) for the PKCS#12 KDF. */
const BLOCK_BYTES = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

const OPERATIONS = {
  generateKeyPair: ({ type, options }) => generateKeyPairSync(type, options).privateKey,
  pbkdf2: ({ password, salt, iterations, keylen, digest }) => pbkdf2Sync(password, salt, iterations, keylen, digest),
  scrypt: ({ password, salt, keylen, options }) => scryptSync(password, salt, keylen, options),
  pkcs12Kdf: ({ password, salt, iterations, id, length, hash: algorithm }) => pkcs12Kdf(password, salt, iterations, id, length, algorithm),
  decryptPkcs8: ({ der, passphrase }) => createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8', passphrase }),
};

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
