import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { parseExact } from './asn1.js';
import { HASH_ALGORITHMS, OID, SIGNATURE_ALGORITHMS } from './oids.js';

/** TrueNAS `digest_algorithm` choices. */
export type Digest = 'SHA1' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512';

/** Key families node:crypto reports that can sign certificates. */
const SIGNING_KEY_TYPES = new Set(['rsa', 'ec', 'ed25519', 'ed448', 'dsa']);

/**
 * AlgorithmIdentifier and node:crypto hash for signing with `key`: PKCS#1 v1.5 for RSA, ECDSA,
 * DSA, or pure EdDSA (where `digest` does not apply).
 */
export function signatureAlgorithm(key: KeyObject, digest: Digest): { identifier: AlgorithmIdentifier; hash: string | null } {
  const keyType = key.asymmetricKeyType ?? '';
  if (!SIGNING_KEY_TYPES.has(keyType)) throw new TypeError(`Cannot sign with a ${keyType || 'unknown'} key`);
  const wanted = keyType === 'ed25519' || keyType === 'ed448' ? null : digest.toLowerCase();
  const entry = Object.entries(SIGNATURE_ALGORITHMS).find(([, info]) => info.keyType === keyType && info.hash === wanted);
  if (!entry) throw new TypeError(`No ${digest} signature algorithm for ${keyType} keys`);
  const [dotted, info] = entry;
  // RSA AlgorithmIdentifiers carry an explicit NULL; ECDSA, DSA and EdDSA ones carry nothing (RFC 3279, 8410).
  const identifier = new AlgorithmIdentifier(keyType === 'rsa' ? { algorithm: dotted, parameters: null } : { algorithm: dotted });
  return { identifier, hash: info.hash };
}

/** Signs `data` off the main thread. ECDSA/DSA signatures come out DER-encoded, as X.509 wants. */
export function signData(data: Buffer, key: KeyObject, hash: string | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(hash, data, key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

type VerifyKey = KeyObject | { key: KeyObject; padding: number; saltLength: number };

/** node:crypto hash and key options for verifying with `algorithm`; null if unknown. */
function verifyOptions(algorithm: AlgorithmIdentifier, publicKey: KeyObject): { hash: string | null; key: VerifyKey } | null {
  const dotted = algorithm.algorithm;
  if (dotted === OID.rsassaPss) {
    const { hash, saltLength } = pssParameters(algorithm.parameters);
    return { hash, key: { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength } };
  }
  const info = SIGNATURE_ALGORITHMS[dotted];
  return info ? { hash: info.hash, key: publicKey } : null;
}

/**
 * Checks a signature made with `algorithm` (any in {@link SIGNATURE_ALGORITHMS},
 * or RSASSA-PSS) on the thread pool. Unknown algorithms, mismatched keys and malformed signatures
 * count as invalid.
 */
export function verifySignature(data: Buffer, algorithm: AlgorithmIdentifier, signature: Buffer, publicKey: KeyObject): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const options = verifyOptions(algorithm, publicKey);
      if (!options) return resolve(false);
      verify(options.hash, data, options.key, signature, (error, valid) => resolve(!error && valid));
    } catch {
      resolve(false);
    }
  });
}

/** Synchronous {@link verifySignature}, for small inputs such as a CSR's self-signature. */
export function verifySignatureSync(data: Buffer, algorithm: AlgorithmIdentifier, signature: Buffer, publicKey: KeyObject): boolean {
  try {
    const options = verifyOptions(algorithm, publicKey);
    return options !== null && verify(options.hash, data, options.key, signature);
  } catch {
    return false;
  }
}

/** RSASSA-PSS-params: hash (default SHA-1) and salt length (default 20); MGF1 is assumed to use the same hash. */
function pssParameters(parameters: ArrayBuffer | null | undefined): { hash: string; saltLength: number } {
  const params = parameters ? parseExact(new Uint8Array(parameters), RsaSaPssParams) : new RsaSaPssParams();
  return { hash: HASH_ALGORITHMS[params.hashAlgorithm.algorithm] ?? 'sha1', saltLength: params.saltLength };
}
