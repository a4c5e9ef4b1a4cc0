/**
 * Password-based encryption for PKCS#12 and encrypted PKCS#8 keys: PBES2 (RFC 8018) with PBKDF2 or
 * scrypt (RFC 7914), and the PKCS#12 v1 PBE schemes (RFC 7292 App. B/C). Their parameters are read
 * and written through the ASN.1 schema package; the few schemas no package has are declared here,
 * decoded with asn1.ts's bounded BER decoder.
 *
 * Every key derivation takes its cost from the input, so decryption checks that cost against
 * `KdfBudget` before doing any work, and does the work on the crypto pool (crypto-pool.ts), never on
 * the event loop: PBKDF2, scrypt and the PKCS#12 KDF (no native implementation; written in the
 * pool's worker).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  AsnConvert,
  AsnIntegerBigIntConverter,
  AsnParser,
  AsnProp,
  AsnPropTypes,
  AsnType,
  AsnTypeTypes,
  OctetString,
} from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { Asn1Error, parseBer } from './asn1.js';
import { pbkdf2OffThread, pkcs12KdfOffThread, scryptOffThread } from './crypto-pool.js';
import { rc2CbcDecrypt } from './rc2.js';

export const PBES2 = '1.2.840.113549.1.5.13';
export const PBKDF2 = '1.2.840.113549.1.5.12';
export const SCRYPT = '1.3.6.1.4.1.11591.4.11';
export const HMAC_SHA256 = '1.2.840.113549.2.9';
export const AES_256_CBC = '2.16.840.1.101.3.4.1.42';

const PRFS: Readonly<Record<string, string>> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  [HMAC_SHA256]: 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

/** Digest algorithm OIDs (PKCS#12 MACs). */
export const DIGESTS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
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

/** Field options of a schema class, as the schema package's property decorator takes them. */
type FieldSchema = Parameters<typeof AsnProp>[0];

/** A schema class: constructible without arguments. */
type SchemaType<T> = new () => T;

/** Declares a SEQUENCE schema: the schema package's decorators, applied without decorator syntax (legacy decorators are off here). */
export function sequenceSchema<T>(type: SchemaType<T>, fields: { [K in keyof T]?: FieldSchema }): void {
  AsnType({ type: AsnTypeTypes.Sequence })(type);
  for (const [name, options] of Object.entries(fields)) AsnProp(options as FieldSchema)(type.prototype as object, name);
}

/** INTEGER fields read as bigint: iteration counts and scrypt parameters come from input, any size. */
const bigInteger: FieldSchema = { type: AsnPropTypes.Integer, converter: AsnIntegerBigIntConverter };

/** PBES2-params (RFC 8018 A.4). */
export class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();

  constructor(params: Partial<Pbes2Params> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(Pbes2Params, { keyDerivationFunc: { type: AlgorithmIdentifier }, encryptionScheme: { type: AlgorithmIdentifier } });

/** PBKDF2-params (RFC 8018 A.2); the salt's `otherSource` choice is written by no tool. */
export class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0n;
  keyLength?: bigint;
  /** Absent means hmacWithSHA1. */
  prf?: AlgorithmIdentifier;

  constructor(params: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(Pbkdf2Params, {
  salt: { type: OctetString },
  iterationCount: bigInteger,
  keyLength: { ...bigInteger, optional: true },
  prf: { type: AlgorithmIdentifier, optional: true },
});

/** scrypt-params (RFC 7914 §7). */
export class ScryptParams {
  salt = new OctetString();
  costParameter = 0n;
  blockSize = 0n;
  parallelizationParameter = 0n;
  keyLength?: bigint;

  constructor(params: Partial<ScryptParams> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(ScryptParams, {
  salt: { type: OctetString },
  costParameter: bigInteger,
  blockSize: bigInteger,
  parallelizationParameter: bigInteger,
  keyLength: { ...bigInteger, optional: true },
});

/** PBEParameter (RFC 8018 A.3, RFC 7292 App. C): the parameters of PBES1 and the PKCS#12 PBE schemes. */
export class PbeParameter {
  salt = new OctetString();
  iterationCount = 0n;

  constructor(params: Partial<PbeParameter> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(PbeParameter, { salt: { type: OctetString }, iterationCount: bigInteger });

/** Parameters of an AlgorithmIdentifier decoded as `type`; absent parameters are malformed input too. */
function parametersOf<T>(algorithm: AlgorithmIdentifier, type: SchemaType<T>): T {
  if (!algorithm.parameters) throw new Asn1Error(`${algorithm.algorithm} without parameters`);
  return parseBer(algorithm.parameters, type);
}

const bytesOf = (octets: OctetString): Buffer => Buffer.from(octets.buffer);

/** Algorithms this module cannot handle. */
export class UnsupportedAlgorithmError extends Error {
  override readonly name = 'UnsupportedAlgorithmError';
}

/**
 * Most iterations one key derivation may ask for. Input sets the count (a 32-bit INTEGER, or
 * larger), and each iteration costs a hash, so without a bound one uploaded key or PKCS#12 file
 * keeps a CPU busy for hours. Tools write far less: OpenSSL's default is 2048 (pkcs8, pkcs12 and
 * its MAC), Java's keytool 10,000, and OWASP's advice for PBKDF2-HMAC-SHA256 is 600,000, which
 * `openssl pkcs8 -iter 600000` writes and must load. 1,000,000 leaves room above all of them and
 * costs about 0.2 s (PBKDF2-SHA256) to 1 s (SHA-1, or the PKCS#12 KDF hashed here) per derivation.
 */
export const MAX_KDF_ITERATIONS = 1_000_000;

/**
 * Most derivation work (iterations × hash outputs) one input may ask for in all. A legacy
 * (3DES/RC2, SHA-1 MAC) PKCS#12 file written at the iteration cap needs about seven times the cap:
 * its MAC, the certificates' key and IV, the private key's two key blocks and IV; an empty
 * password tries the MAC twice. Many encrypted bags at the cap each are refused.
 */
export const MAX_KDF_WORK = 8 * MAX_KDF_ITERATIONS;

/**
 * scrypt bounds: the memory OpenSSL allows by default (32 MiB, 128·N·r bytes) and N·r·p at most 16
 * times what `openssl pkcs8 -scrypt` writes (N 16384, r 8, p 1), about half a second of work.
 */
const SCRYPT_MAX_MEMORY = 32 * 1024 * 1024;
const SCRYPT_MAX_WORK = 16 * 16384 * 8;

/** Input that asks for more key-derivation work than is accepted; the message completes "The private key's encryption …". */
export class KdfLimitError extends Error {
  override readonly name = 'KdfLimitError';
}

/** The key-derivation work one input may still spend; every derivation checks and charges it before it runs. */
export class KdfBudget {
  private spent = 0;

  constructor(private readonly limit: number = MAX_KDF_WORK) {}

  /** Checks an iteration count from the input and charges `outputs` derivations of it; returns it as a number. */
  charge(iterations: bigint, outputs = 1): number {
    if (iterations < 1n) throw new Error(`Invalid iteration count ${iterations}`);
    if (iterations > BigInt(MAX_KDF_ITERATIONS)) {
      throw new KdfLimitError(`asks for ${iterations} key-derivation iterations; at most ${MAX_KDF_ITERATIONS} are accepted`);
    }
    const count = Number(iterations);
    this.spent += count * outputs;
    if (this.spent > this.limit) {
      throw new KdfLimitError(`asks for more than ${this.limit} key-derivation iterations in all; at most ${MAX_KDF_ITERATIONS} per key are accepted`);
    }
    return count;
  }

  /** Checks scrypt parameters from the input and charges them as the share of the cap they cost. */
  chargeScrypt(n: bigint, r: bigint, p: bigint): { N: number; r: number; p: number; maxmem: number } {
    if (n < 2n || r < 1n || p < 1n || (n & (n - 1n)) !== 0n) throw new Error('Invalid scrypt parameters');
    if (128n * n * r > BigInt(SCRYPT_MAX_MEMORY) || n * r * p > BigInt(SCRYPT_MAX_WORK)) {
      throw new KdfLimitError(`asks for scrypt with N ${n}, r ${r}, p ${p}; at most 32 MiB (128·N·r) and N·r·p ${SCRYPT_MAX_WORK} are accepted`);
    }
    this.charge(BigInt(Math.ceil((Number(n * r * p) * MAX_KDF_ITERATIONS) / SCRYPT_MAX_WORK)));
    // Node counts 128·N·r plus a little for its own buffers against maxmem.
    return { N: Number(n), r: Number(r), p: Number(p), maxmem: 2 * SCRYPT_MAX_MEMORY };
  }
}

const HASH_OUTPUT_BYTES: Readonly<Record<string, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** PKCS#12 passwords for the KDF: BMPString (UTF-16BE) with a two-byte terminator, as OpenSSL encodes them. */
export function bmpPassword(password: string): Buffer {
  const utf16 = Buffer.from(password, 'utf16le').swap16();
  return Buffer.concat([utf16, Buffer.alloc(2)]);
}

/** RFC 7292 Appendix B.2 key derivation on the crypto pool; `id` 1 = key, 2 = IV, 3 = MAC key. Only for counts this code chooses (export). */
export function pkcs12Kdf(password: Buffer, salt: Buffer, iterations: number, id: 1 | 2 | 3, length: number, hash: string): Promise<Buffer> {
  if (!HASH_OUTPUT_BYTES[hash]) return Promise.reject(new UnsupportedAlgorithmError(`PKCS#12 KDF with ${hash}`));
  return pkcs12KdfOffThread(password, salt, iterations, id, length, hash);
}

/**
 * The PKCS#12 KDF for counts taken from input: charged to `budget` first (KdfLimitError past the
 * cap), then derived on the crypto pool.
 */
export async function pkcs12KdfAsync(
  password: Buffer,
  salt: Buffer,
  iterations: bigint,
  id: 1 | 2 | 3,
  length: number,
  hash: string,
  budget: KdfBudget,
): Promise<Buffer> {
  const outputBytes = HASH_OUTPUT_BYTES[hash];
  if (!outputBytes) throw new UnsupportedAlgorithmError(`PKCS#12 KDF with ${hash}`);
  const count = budget.charge(iterations, Math.ceil(length / outputBytes));
  return pkcs12KdfOffThread(password, salt, count, id, length, hash);
}

/**
 * Decrypts with the PBES2 or PKCS#12 PBE algorithm `encryption`, its key derivation charged to
 * `budget` and run off the event loop.
 *
 * @throws UnsupportedAlgorithmError for other schemes; KdfLimitError when the derivation asks for
 *   too much work; any other error means a wrong password or corrupt data.
 */
export async function pbeDecrypt(encryption: AlgorithmIdentifier, ciphertext: Buffer, password: string, budget: KdfBudget): Promise<Buffer> {
  const scheme = encryption.algorithm;
  if (scheme === PBES2 && encryption.parameters) return pbes2Decrypt(parametersOf(encryption, Pbes2Params), ciphertext, password, budget);
  const pbe = PKCS12_PBE[scheme];
  if (!pbe || !encryption.parameters) throw new UnsupportedAlgorithmError(`Unsupported encryption algorithm ${scheme}`);
  const { salt, iterationCount } = parametersOf(encryption, PbeParameter);
  const secret = bmpPassword(password);
  const key = await pkcs12KdfAsync(secret, bytesOf(salt), iterationCount, 1, pbe.keyLength, 'sha1', budget);
  const iv = await pkcs12KdfAsync(secret, bytesOf(salt), iterationCount, 2, 8, 'sha1', budget);
  if (pbe.cipher === 'rc2') return rc2CbcDecrypt(key, pbe.keyLength * 8, iv, ciphertext);
  const decipher = createDecipheriv(pbe.cipher, key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

async function pbes2Decrypt(parameters: Pbes2Params, ciphertext: Buffer, password: string, budget: KdfBudget): Promise<Buffer> {
  const { keyDerivationFunc: kdf, encryptionScheme: encryption } = parameters;
  const secret = Buffer.from(password, 'utf8');
  let key: Buffer;
  let cipher: Pbes2Cipher;
  if (kdf.algorithm === PBKDF2 && kdf.parameters) {
    const { salt, iterationCount, keyLength, prf: prfAlgorithm } = parametersOf(kdf, Pbkdf2Params);
    cipher = pbes2Cipher(encryption, keyLength);
    const prf = prfAlgorithm ? PRFS[prfAlgorithm.algorithm] : 'sha1';
    if (!prf) throw new UnsupportedAlgorithmError('Unsupported PBKDF2 PRF');
    const iterations = budget.charge(iterationCount, Math.ceil(cipher.keyLength / HASH_OUTPUT_BYTES[prf]!));
    key = await pbkdf2OffThread(secret, bytesOf(salt), iterations, cipher.keyLength, prf);
  } else if (kdf.algorithm === SCRYPT && kdf.parameters) {
    const { salt, costParameter, blockSize, parallelizationParameter, keyLength } = parametersOf(kdf, ScryptParams);
    cipher = pbes2Cipher(encryption, keyLength);
    key = await scryptOffThread(secret, bytesOf(salt), cipher.keyLength, budget.chargeScrypt(costParameter, blockSize, parallelizationParameter));
  } else {
    throw new UnsupportedAlgorithmError('Only PBKDF2 and scrypt are supported in PBES2');
  }
  return cipher.decrypt(key, ciphertext);
}

/** A PBES2 encryption scheme: the key length to derive, and decryption with the derived key. */
interface Pbes2Cipher {
  keyLength: number;
  decrypt(key: Buffer, ciphertext: Buffer): Buffer;
}

const RC2_CBC = '1.2.840.113549.3.2';

/** RC2-CBC-Parameter (RFC 8018 B.2.3). */
export class Rc2CbcParameter {
  rc2ParameterVersion?: bigint;
  iv = new OctetString();

  constructor(params: Partial<Rc2CbcParameter> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(Rc2CbcParameter, { rc2ParameterVersion: { ...bigInteger, optional: true }, iv: { type: OctetString } });

/** RFC 8018 B.2.3: the RC2 parameter version names the effective key bits; a version of 256 or more is the bit count itself. */
const RC2_VERSION_BITS: Readonly<Record<string, number>> = { '160': 40, '120': 64, '58': 128 };

/** RC2 keys are 1 to 128 bytes (RFC 2268); the length comes from input, so it is bounded before any derivation. */
const RC2_MAX_KEY_BYTES = 128;

/** The cipher of a PBES2 `encryption` scheme; `kdfKeyLength` is the KDF's keyLength field (needed by RC2, whose key length varies). */
function pbes2Cipher(encryption: AlgorithmIdentifier, kdfKeyLength: bigint | undefined): Pbes2Cipher {
  if (encryption.algorithm === RC2_CBC) {
    const { rc2ParameterVersion: version, iv } = parametersOf(encryption, Rc2CbcParameter);
    const keyLength = Number(kdfKeyLength ?? 16n);
    if (!(keyLength >= 1 && keyLength <= RC2_MAX_KEY_BYTES)) throw new Asn1Error(`RC2 key length ${kdfKeyLength}`);
    // An absent version means 32 effective bits (RFC 2268 §6).
    const effectiveBits = version === undefined ? 32 : (RC2_VERSION_BITS[String(version)] ?? Number(version));
    if (!(effectiveBits >= 1 && effectiveBits <= 1024)) throw new Asn1Error(`RC2 parameter version ${version}`);
    return { keyLength, decrypt: (key, ciphertext) => rc2CbcDecrypt(key, effectiveBits, bytesOf(iv), ciphertext) };
  }
  const scheme = PBES2_CIPHERS[encryption.algorithm];
  if (!scheme) throw new UnsupportedAlgorithmError(`Unsupported PBES2 cipher ${encryption.algorithm}`);
  const iv = bytesOf(parametersOf(encryption, OctetString));
  return {
    keyLength: scheme.keyLength,
    decrypt: (key, ciphertext) => {
      const decipher = createDecipheriv(scheme.cipher, key, iv);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    },
  };
}

/**
 * Checks, without deriving anything, the cost an encryption AlgorithmIdentifier asks for: PBES1
 * and PKCS#12 PBE iteration counts, PBES2's PBKDF2 count or scrypt parameters. For schemes handed
 * to OpenSSL, whose key derivation runs synchronously on the thread that calls it.
 *
 * @throws KdfLimitError past the limits; UnsupportedAlgorithmError when the cost cannot be read.
 */
export function checkPbeCost(encryption: AlgorithmIdentifier, budget: KdfBudget): void {
  const scheme = encryption.algorithm;
  if (!encryption.parameters) throw new UnsupportedAlgorithmError(`Unsupported encryption algorithm ${scheme}`);
  if (scheme === PBES2) {
    const { keyDerivationFunc: kdf } = parametersOf(encryption, Pbes2Params);
    if (kdf.algorithm === PBKDF2) budget.charge(parametersOf(kdf, Pbkdf2Params).iterationCount, 2);
    else if (kdf.algorithm === SCRYPT) {
      const { costParameter, blockSize, parallelizationParameter } = parametersOf(kdf, ScryptParams);
      budget.chargeScrypt(costParameter, blockSize, parallelizationParameter);
    } else throw new UnsupportedAlgorithmError('Only PBKDF2 and scrypt are supported in PBES2');
    return;
  }
  // PBES1 (1.2.840.113549.1.5.x) and PKCS#12 PBE share PBEParameter { salt, iterationCount }.
  if (!scheme.startsWith('1.2.840.113549.1.5.') && !scheme.startsWith('1.2.840.113549.1.12.1.')) {
    throw new UnsupportedAlgorithmError(`Unsupported encryption algorithm ${scheme}`);
  }
  budget.charge(parametersOf(encryption, PbeParameter).iterationCount, 3);
}

/** PBES2 with PBKDF2-HMAC-SHA256 (on the crypto pool) and AES-256-CBC (OpenSSL 3's PKCS#12 default); returns AlgorithmIdentifier and ciphertext. */
export async function pbes2Encrypt(plaintext: Buffer, password: string, iterations: number): Promise<{ algorithm: AlgorithmIdentifier; ciphertext: Buffer }> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await pbkdf2OffThread(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const prf = new AlgorithmIdentifier({ algorithm: HMAC_SHA256, parameters: null });
  const kdfParameters = new Pbkdf2Params({ salt: new OctetString(salt), iterationCount: BigInt(iterations), prf });
  const parameters = new Pbes2Params({
    keyDerivationFunc: new AlgorithmIdentifier({ algorithm: PBKDF2, parameters: AsnConvert.serialize(kdfParameters) }),
    encryptionScheme: new AlgorithmIdentifier({ algorithm: AES_256_CBC, parameters: AsnConvert.serialize(new OctetString(iv)) }),
  });
  return { algorithm: new AlgorithmIdentifier({ algorithm: PBES2, parameters: AsnConvert.serialize(parameters) }), ciphertext };
}
