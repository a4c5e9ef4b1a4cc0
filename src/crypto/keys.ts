import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { decryptPkcs8OffThread, generateKeyOffThread, type KeyGeneration } from './crypto-pool.js';
import { EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { Asn1Error, parseBer, parseExact } from './asn1.js';
import { checkPbeCost, KdfBudget, KdfLimitError, pbeDecrypt, UnsupportedAlgorithmError } from './pbe.js';
import { splitPem } from './pem.js';

/** TrueNAS `ec_curve` choices. */
export type EcCurve = 'SECP256R1' | 'SECP384R1' | 'SECP521R1' | 'ed25519';

/** What to generate: TrueNAS `key_type` with `key_length` or `ec_curve`. */
export type KeySpec =
  | { keyType: 'RSA'; keyLength: 1024 | 2048 | 3072 | 4096 | 8192 }
  | { keyType: 'EC'; curve: EcCurve };

const NAMED_CURVES: Record<Exclude<EcCurve, 'ed25519'>, string> = {
  SECP256R1: 'prime256v1',
  SECP384R1: 'secp384r1',
  SECP521R1: 'secp521r1',
};

/**
 * Generates a private key (RSA with e = 65537, ECDSA on a NIST curve, or Ed25519) on the crypto
 * pool, so an 8192-bit RSA key stalls neither the event loop nor logins. `signal` (a job's abort)
 * ends the wait at once.
 */
export function generatePrivateKey(spec: KeySpec, signal?: AbortSignal): Promise<KeyObject> {
  return generateKeyOffThread(keyGenerationOf(spec), signal);
}

/** What Node's `generateKeyPair` is asked for to make a key of `spec`. */
export function keyGenerationOf(spec: KeySpec): KeyGeneration {
  if (spec.keyType === 'RSA') return { type: 'rsa', options: { modulusLength: spec.keyLength, publicExponent: 0x10001 } };
  if (spec.curve === 'ed25519') return { type: 'ed25519', options: {} };
  return { type: 'ec', options: { namedCurve: NAMED_CURVES[spec.curve] } };
}

const CURVES_BY_NAME: Record<string, EcCurve> = { prime256v1: 'SECP256R1', secp384r1: 'SECP384R1', secp521r1: 'SECP521R1' };
const RSA_SIZES = new Set([2048, 3072, 4096, 8192]);

/** How a key spec reads in progress messages: `RSA-8192`, `EC P-384`, `Ed25519`. */
export function keySpecLabel(spec: KeySpec): string {
  if (spec.keyType === 'RSA') return `RSA-${spec.keyLength}`;
  return spec.curve === 'ed25519' ? 'Ed25519' : `EC P-${spec.curve.slice(4, 7)}`;
}

/** What to generate to replace `key` (private or public): the same algorithm, size or curve; null for a kind certmid does not generate. */
export function sameKeySpec(key: KeyObject): KeySpec | null {
  const { modulusLength, namedCurve } = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' && modulusLength !== undefined && RSA_SIZES.has(modulusLength)) {
    return { keyType: 'RSA', keyLength: modulusLength as 2048 | 3072 | 4096 | 8192 };
  }
  if (key.asymmetricKeyType === 'ed25519') return { keyType: 'EC', curve: 'ed25519' };
  const curve = CURVES_BY_NAME[namedCurve ?? ''];
  return key.asymmetricKeyType === 'ec' && curve ? { keyType: 'EC', curve } : null;
}

/** Why a private key could not be loaded; `too-costly`: its encryption asks for more key-derivation work than is accepted. */
export type KeyLoadFailure = 'unparseable' | 'passphrase-required' | 'wrong-passphrase' | 'too-costly';

/** A private key that could not be loaded; the message never contains key material. */
export class KeyLoadError extends Error {
  override readonly name = 'KeyLoadError';

  constructor(
    readonly reason: KeyLoadFailure,
    message: string,
  ) {
    super(message);
  }
}

const PEM_KEY_LABELS = new Set(['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'DSA PRIVATE KEY']);

/**
 * Loads a private key: PEM (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, legacy `Proc-Type: 4,ENCRYPTED`)
 * or DER (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1). In PEM input the first private-key block is used,
 * so an `EC PARAMETERS` block or a certificate before it is fine. An empty passphrase counts as none;
 * a passphrase given for an unencrypted key is ignored.
 *
 * Synchronous: OpenSSL derives an encrypted PKCS#8 key's secret on the calling thread, within the
 * key-derivation limits (checked first). For keys from callers, use `readPrivateKey`.
 *
 * @throws KeyLoadError with `reason` telling a missing or wrong passphrase, or a too costly
 *   encryption, from unparseable input.
 */
export function loadPrivateKey(input: string | Buffer, passphrase?: string | null): KeyObject {
  const secret = passphrase || undefined;
  if (typeof input === 'string' || input.includes('-----BEGIN')) return loadPem(input.toString(), secret);
  const encrypted = isEncryptedPkcs8(input);
  if (encrypted && secret) checkCost(input);
  const types = encrypted ? (['pkcs8'] as const) : (['pkcs8', 'pkcs1', 'sec1'] as const);
  return decode(
    encrypted,
    secret,
    types.map((type) => () => createPrivateKey({ key: input, format: 'der', type, passphrase: secret })),
  );
}

function loadPem(text: string, passphrase: string | undefined): KeyObject {
  const block = splitPem(text).find((candidate) => PEM_KEY_LABELS.has(candidate.label));
  if (!block) throw new KeyLoadError('unparseable', 'No private key PEM block found');
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block.pem);
  if (block.label === 'ENCRYPTED PRIVATE KEY' && passphrase) checkCost(block.der);
  return decode(encrypted, passphrase, [() => createPrivateKey({ key: block.pem, format: 'pem', passphrase })]);
}

/** An encrypted PKCS#8 key's key-derivation cost, checked before OpenSSL pays it. */
function checkCost(encryptedPkcs8: Buffer, budget = new KdfBudget()): void {
  try {
    checkPbeCost(parseBer(encryptedPkcs8, EncryptedPrivateKeyInfo).encryptionAlgorithm, budget);
  } catch (error) {
    if (error instanceof KdfLimitError) throw new KeyLoadError('too-costly', `The private key's encryption ${error.message}`);
    // Anything else unreadable is OpenSSL's to refuse.
  }
}

/**
 * `loadPrivateKey` for keys from callers: an encrypted PKCS#8 key (PBES2 with PBKDF2 or scrypt, or
 * PKCS#12 PBE) is decrypted here, its key derivation charged to `budget` (KeyLoadError
 * `too-costly` past the limits) and run on the crypto pool, so the event loop keeps serving. Other
 * encryption schemes (PBES1) go to OpenSSL on the crypto pool once their cost is checked; legacy
 * PEM encryption derives its key with one MD5 hash.
 */
export async function readPrivateKey(input: string | Buffer, passphrase?: string | null, budget = new KdfBudget()): Promise<KeyObject> {
  const secret = passphrase || undefined;
  let encrypted: Buffer | null = null;
  if (typeof input === 'string' || input.includes('-----BEGIN')) {
    const block = splitPem(input.toString()).find((candidate) => PEM_KEY_LABELS.has(candidate.label));
    if (block?.label === 'ENCRYPTED PRIVATE KEY') encrypted = block.der;
  } else if (isEncryptedPkcs8(input)) {
    encrypted = input;
  }
  if (!encrypted || !secret) return loadPrivateKey(input, secret);
  const { encryptionAlgorithm, encryptedData } = encryptedKeyInfo(encrypted);
  let plain: Buffer;
  try {
    plain = await pbeDecrypt(encryptionAlgorithm, Buffer.from(encryptedData.buffer), secret, budget);
  } catch (error) {
    if (error instanceof KdfLimitError) throw new KeyLoadError('too-costly', `The private key's encryption ${error.message}`);
    if (error instanceof UnsupportedAlgorithmError) {
      checkCost(encrypted, budget);
      return decryptPkcs8OffThread(encrypted, secret).catch(() => {
        throw new KeyLoadError('wrong-passphrase', 'The passphrase does not decrypt the private key');
      });
    }
    throw new KeyLoadError('wrong-passphrase', 'The passphrase does not decrypt the private key');
  }
  try {
    return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  } catch {
    // CBC padding that happens to check out under a wrong passphrase leaves garbage.
    throw new KeyLoadError('wrong-passphrase', 'The passphrase does not decrypt the private key');
  }
}

function decode(encrypted: boolean, passphrase: string | undefined, attempts: Array<() => KeyObject>): KeyObject {
  if (encrypted && !passphrase) throw new KeyLoadError('passphrase-required', 'The private key is encrypted; a passphrase is required');
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // try the next encoding
    }
  }
  if (encrypted) throw new KeyLoadError('wrong-passphrase', 'The passphrase does not decrypt the private key');
  throw new KeyLoadError('unparseable', 'The private key could not be parsed');
}

/** EncryptedPrivateKeyInfo's fields; DER that does not even parse is an unreadable key, like any other. */
function encryptedKeyInfo(der: Buffer): EncryptedPrivateKeyInfo {
  try {
    return parseBer(der, EncryptedPrivateKeyInfo);
  } catch (error) {
    if (error instanceof Asn1Error) throw new KeyLoadError('unparseable', 'The private key could not be parsed');
    throw error;
  }
}

/** EncryptedPrivateKeyInfo is SEQUENCE { AlgorithmIdentifier, OCTET STRING }; plain keys start with an INTEGER. */
function isEncryptedPkcs8(der: Buffer): boolean {
  try {
    parseExact(der, EncryptedPrivateKeyInfo);
    return true;
  } catch (error) {
    if (error instanceof Asn1Error) return false;
    throw error;
  }
}

/** Unencrypted PKCS#8 PEM (label "PRIVATE KEY"), as TrueNAS stores keys. */
export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** TrueNAS `key_type` / `key_length` of a key. */
export interface KeyInfo {
  keyType: 'RSA' | 'EC' | 'DSA' | 'OTHER';
  keyLength: number;
}

const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

/** Key family and size as TrueNAS reports them: Ed25519 is `EC` with length 32, EC curves their bit size. */
export function describeKey(key: KeyObject): KeyInfo {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return { keyType: 'RSA', keyLength: details.modulusLength ?? 0 };
    case 'dsa':
      return { keyType: 'DSA', keyLength: details.modulusLength ?? 0 };
    case 'ec':
      return { keyType: 'EC', keyLength: CURVE_BITS[details.namedCurve ?? ''] ?? 0 };
    case 'ed25519':
      return { keyType: 'EC', keyLength: 32 };
    case 'ed448':
      return { keyType: 'OTHER', keyLength: 57 };
    default:
      return { keyType: 'OTHER', keyLength: 0 };
  }
}

/** {@link describeKey} of a key generated for `spec`, known without asking the key. */
export function describeKeySpec(spec: KeySpec): KeyInfo {
  if (spec.keyType === 'RSA') return { keyType: 'RSA', keyLength: spec.keyLength };
  if (spec.curve === 'ed25519') return { keyType: 'EC', keyLength: 32 };
  return { keyType: 'EC', keyLength: CURVE_BITS[NAMED_CURVES[spec.curve]]! };
}

/** Each key's SPKI, exported once: a KeyObject never changes, and a CA's key signs many certificates. */
const spkiByKey = new WeakMap<KeyObject, Buffer>();

/** Records the SPKI of a key exported elsewhere (where the key was made), so that `spkiDer` need not export it. */
export function rememberSpki(key: KeyObject, der: Buffer): void {
  spkiByKey.set(key, der);
}

/** SubjectPublicKeyInfo DER of a public key, or of the public half of a private key (shared: do not modify). */
export function spkiDer(key: KeyObject): Buffer {
  let der = spkiByKey.get(key);
  if (!der) {
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    der = publicKey.export({ type: 'spki', format: 'der' });
    spkiByKey.set(key, der);
  }
  return der;
}

/** Whether two keys (public or private) have the same public key. */
export function publicKeysEqual(a: KeyObject, b: KeyObject): boolean {
  return spkiDer(a).equals(spkiDer(b));
}
