/** Password-based encryption for PKCS#12: PBES2 (RFC 8018) and the PKCS#12 v1 PBE schemes (RFC 7292 App. B/C). */
import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  algorithm,
  childrenOf,
  integer,
  nullValue,
  octetString,
  readInteger,
  readOctets,
  readOid,
  sequence,
  sequenceOf,
  type DerNode,
} from './der.js';
import { rc2CbcDecrypt } from './rc2.js';

const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const HMAC_SHA256 = '1.2.840.113549.2.9';
const AES_256_CBC = '2.16.840.1.101.3.4.1.42';

const PRFS: Readonly<Record<string, string>> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  [HMAC_SHA256]: 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

/** PBES2 encryption schemes: node cipher and key length. */
const PBES2_CIPHERS: Readonly<Record<string, { cipher: string; keyLength: number }>> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLength: 24 },
  [AES_256_CBC]: { cipher: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLength: 24 },
};

/** PKCS#12 v1 PBE schemes (all SHA-1 based). */
const PKCS12_PBE: Readonly<Record<string, { cipher: 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2'; keyLength: number }>> = {
  '1.2.840.113549.1.12.1.3': { cipher: 'des-ede3-cbc', keyLength: 24 },
  '1.2.840.113549.1.12.1.4': { cipher: 'des-ede-cbc', keyLength: 16 },
  '1.2.840.113549.1.12.1.5': { cipher: 'rc2', keyLength: 16 },
  '1.2.840.113549.1.12.1.6': { cipher: 'rc2', keyLength: 5 },
};

/** Algorithms this module cannot handle. */
export class UnsupportedAlgorithmError extends Error {
  override readonly name = 'UnsupportedAlgorithmError';
}

const HASH_BLOCK_BYTES: Readonly<Record<string, number>> = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

/** PKCS#12 passwords for the KDF: BMPString (UTF-16BE) with a two-byte terminator, as OpenSSL encodes them. */
export function bmpPassword(password: string): Buffer {
  const utf16 = Buffer.from(password, 'utf16le').swap16();
  return Buffer.concat([utf16, Buffer.alloc(2)]);
}

/** RFC 7292 Appendix B.2 key derivation; `id` 1 = key, 2 = IV, 3 = MAC key. */
export function pkcs12Kdf(password: Buffer, salt: Buffer, iterations: number, id: 1 | 2 | 3, length: number, hash: string): Buffer {
  const v = HASH_BLOCK_BYTES[hash];
  if (!v) throw new UnsupportedAlgorithmError(`PKCS#12 KDF with ${hash}`);
  const fill = (data: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(data.length / v));
    for (let i = 0; i < out.length; i++) out[i] = data[i % data.length]!;
    return out;
  };
  const d = Buffer.alloc(v, id);
  const input = Buffer.concat([fill(salt), fill(password)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; ) {
    let a = createHash(hash).update(d).update(input).digest();
    for (let i = 1; i < iterations; i++) a = createHash(hash).update(a).digest();
    blocks.push(a);
    produced += a.length;
    const b = fill(a).subarray(0, v);
    for (let offset = 0; offset < input.length; offset += v) addBlock(input, offset, b, v);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** I_j = (I_j + B + 1) mod 2^(8v), big-endian, in place. */
function addBlock(target: Buffer, offset: number, b: Buffer, v: number): void {
  let carry = 1;
  for (let i = v - 1; i >= 0; i--) {
    const sum = target[offset + i]! + b[i]! + carry;
    target[offset + i] = sum & 0xff;
    carry = sum >> 8;
  }
}

/**
 * Decrypts with the PBES2 or PKCS#12 PBE algorithm in `algorithmNode`.
 *
 * @throws UnsupportedAlgorithmError for other schemes; any other error means a wrong password or corrupt data.
 */
export function pbeDecrypt(algorithmNode: DerNode, ciphertext: Buffer, password: string): Buffer {
  const [id, parameters] = sequenceOf(algorithmNode, 'AlgorithmIdentifier');
  const scheme = readOid(id);
  if (scheme === PBES2 && parameters) return pbes2Decrypt(parameters, ciphertext, password);
  const pbe = PKCS12_PBE[scheme];
  if (!pbe || !parameters) throw new UnsupportedAlgorithmError(`Unsupported encryption algorithm ${scheme}`);
  const [saltNode, iterationsNode] = sequenceOf(parameters, 'PBEParameter');
  const salt = readOctets(saltNode);
  const iterations = Number(readInteger(iterationsNode));
  const secret = bmpPassword(password);
  const key = pkcs12Kdf(secret, salt, iterations, 1, pbe.keyLength, 'sha1');
  const iv = pkcs12Kdf(secret, salt, iterations, 2, 8, 'sha1');
  if (pbe.cipher === 'rc2') return rc2CbcDecrypt(key, pbe.keyLength * 8, iv, ciphertext);
  const decipher = createDecipheriv(pbe.cipher, key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

function pbes2Decrypt(parameters: DerNode, ciphertext: Buffer, password: string): Buffer {
  const [kdf, encryption] = sequenceOf(parameters, 'PBES2-params');
  const [kdfId, kdfParameters] = sequenceOf(kdf, 'keyDerivationFunc');
  if (readOid(kdfId) !== PBKDF2 || !kdfParameters) throw new UnsupportedAlgorithmError('Only PBKDF2 is supported in PBES2');
  const [encryptionId, ivNode] = sequenceOf(encryption, 'encryptionScheme');
  const scheme = PBES2_CIPHERS[readOid(encryptionId)];
  if (!scheme) throw new UnsupportedAlgorithmError(`Unsupported PBES2 cipher ${readOid(encryptionId)}`);
  const [saltNode, iterationsNode, ...rest] = sequenceOf(kdfParameters, 'PBKDF2-params');
  const prfNode = rest.find((node) => node.constructed);
  const prf = prfNode ? PRFS[readOid(childrenOf(prfNode)[0])] : 'sha1';
  if (!prf) throw new UnsupportedAlgorithmError('Unsupported PBKDF2 PRF');
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), readOctets(saltNode), Number(readInteger(iterationsNode)), scheme.keyLength, prf);
  const decipher = createDecipheriv(scheme.cipher, key, readOctets(ivNode));
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

/** PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (OpenSSL 3's PKCS#12 default); returns AlgorithmIdentifier and ciphertext. */
export function pbes2Encrypt(plaintext: Buffer, password: string, iterations: number): { algorithm: Buffer; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const kdf = algorithm(PBKDF2, sequence(octetString(salt), integer(iterations), algorithm(HMAC_SHA256, nullValue())));
  const parameters = sequence(kdf, algorithm(AES_256_CBC, octetString(iv)));
  return { algorithm: algorithm(PBES2, parameters), ciphertext };
}
