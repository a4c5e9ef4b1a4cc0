import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { algorithm, childrenOf, nullValue, readInteger, readNode, readOid, sequenceOf, type DerNode } from './der.js';
import { HASH_ALGORITHMS, OID, SIGNATURE_ALGORITHMS } from './oids.js';

/** TrueNAS `digest_algorithm` choices. */
export type Digest = 'SHA1' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512';

/** Key families node:crypto reports that can sign certificates. */
const SIGNING_KEY_TYPES = new Set(['rsa', 'ec', 'ed25519', 'ed448', 'dsa']);

/**
 * AlgorithmIdentifier DER and node:crypto hash for signing with `key`: PKCS#1 v1.5 for RSA, ECDSA,
 * DSA, or pure EdDSA (where `digest` does not apply).
 */
export function signatureAlgorithm(key: KeyObject, digest: Digest): { identifier: Buffer; hash: string | null } {
  const keyType = key.asymmetricKeyType ?? '';
  if (!SIGNING_KEY_TYPES.has(keyType)) throw new TypeError(`Cannot sign with a ${keyType || 'unknown'} key`);
  const wanted = keyType === 'ed25519' || keyType === 'ed448' ? null : digest.toLowerCase();
  const entry = Object.entries(SIGNATURE_ALGORITHMS).find(([, info]) => info.keyType === keyType && info.hash === wanted);
  if (!entry) throw new TypeError(`No ${digest} signature algorithm for ${keyType} keys`);
  const [dotted, info] = entry;
  // RSA AlgorithmIdentifiers carry an explicit NULL; ECDSA, DSA and EdDSA ones carry nothing (RFC 3279, 8410).
  return { identifier: algorithm(dotted, keyType === 'rsa' ? nullValue() : undefined), hash: info.hash };
}

/** Signs `data` off the main thread. ECDSA/DSA signatures come out DER-encoded, as X.509 wants. */
export function signData(data: Buffer, key: KeyObject, hash: string | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(hash, data, key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

type VerifyKey = KeyObject | { key: KeyObject; padding: number; saltLength: number };

/** node:crypto hash and key options for verifying with the algorithm in `algorithmNode`; null if unknown. */
function verifyOptions(algorithmNode: DerNode, publicKey: KeyObject): { hash: string | null; key: VerifyKey } | null {
  const [id, parameters] = sequenceOf(algorithmNode, 'AlgorithmIdentifier');
  const dotted = readOid(id);
  if (dotted === OID.rsassaPss) {
    const { hash, saltLength } = pssParameters(parameters);
    return { hash, key: { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength } };
  }
  const info = SIGNATURE_ALGORITHMS[dotted];
  return info ? { hash: info.hash, key: publicKey } : null;
}

/**
 * Checks a signature made with the algorithm in `algorithmNode` (any in {@link SIGNATURE_ALGORITHMS},
 * or RSASSA-PSS) on the thread pool. Unknown algorithms, mismatched keys and malformed signatures
 * count as invalid.
 */
export function verifySignature(data: Buffer, algorithmNode: DerNode, signature: Buffer, publicKey: KeyObject): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const options = verifyOptions(algorithmNode, publicKey);
      if (!options) return resolve(false);
      verify(options.hash, data, options.key, signature, (error, valid) => resolve(!error && valid));
    } catch {
      resolve(false);
    }
  });
}

/** Synchronous {@link verifySignature}, for small inputs such as a CSR's self-signature. */
export function verifySignatureSync(data: Buffer, algorithmNode: DerNode, signature: Buffer, publicKey: KeyObject): boolean {
  try {
    const options = verifyOptions(algorithmNode, publicKey);
    return options !== null && verify(options.hash, data, options.key, signature);
  } catch {
    return false;
  }
}

/** RSASSA-PSS-params: hash (default SHA-1) and salt length (default 20); MGF1 is assumed to use the same hash. */
function pssParameters(node: DerNode | undefined): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  for (const field of node ? childrenOf(node) : []) {
    const inner = readNode(field.body);
    if (field.tag === 0xa0) hash = HASH_ALGORITHMS[readOid(childrenOf(inner)[0])] ?? hash;
    if (field.tag === 0xa2) saltLength = Number(readInteger(inner));
  }
  return { hash, saltLength };
}
