import { createHash, createHmac, createPrivateKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import {
  TAG,
  algorithm,
  childrenOf,
  explicit,
  integer,
  nullValue,
  octetString,
  oid,
  parseDer,
  readInteger,
  readNode,
  readOctets,
  readOid,
  sequence,
  sequenceOf,
  setOf,
  tlv,
  type DerNode,
} from './der.js';
import { spkiDer } from './keys.js';
import { HASH_ALGORITHMS } from './oids.js';
import { KdfBudget, KdfLimitError, UnsupportedAlgorithmError, bmpPassword, pbeDecrypt, pbes2Encrypt, pkcs12Kdf, pkcs12KdfAsync } from './pbe.js';
import { splitPem, toPem } from './pem.js';
import { keyIdentifier } from './certificates.js';

const DATA = '1.2.840.113549.1.7.1';
const ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const SAFE_CONTENTS_BAG = '1.2.840.113549.1.12.10.1.6';
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const SHA256 = '2.16.840.1.101.3.4.2.1';

/** OpenSSL's PKCS12_DEFAULT_ITER, for both encryption and MAC. */
const ITERATIONS = 2048;

/** A PKCS#12 file that is malformed or uses something unsupported. */
export class Pkcs12Error extends Error {
  override readonly name: string = 'Pkcs12Error';
}

/** The password does not open the PKCS#12 file (MAC mismatch or undecryptable content). */
export class Pkcs12PasswordError extends Pkcs12Error {
  override readonly name = 'Pkcs12PasswordError';
}

/** What goes into a PKCS#12 file. */
export interface Pkcs12Input {
  /** PEM, leaf first. */
  certificates: string[];
  privateKey: KeyObject | null;
  password: string;
  friendlyName?: string;
}

/**
 * Writes a PKCS#12 file as OpenSSL 3 does by default: certificates in a PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) EncryptedData, the key as a PBES2 shrouded key bag, HMAC-SHA256 MAC, 2048
 * iterations. The leaf and the key share a localKeyID (SHA-1 of the leaf) and the friendly name.
 * Its key derivations run on the crypto pool.
 */
export async function exportPkcs12(input: Pkcs12Input): Promise<Buffer> {
  const certificates = input.certificates.map((pem) => {
    const block = splitPem(pem).find((candidate) => candidate.label === 'CERTIFICATE');
    if (!block) throw new Pkcs12Error('Not a PEM certificate');
    return block.der;
  });
  const leaf = certificates[0];
  const localKeyId = leaf ? createHash('sha1').update(leaf).digest() : randomBytes(20);
  const leafAttributes = bagAttributes(localKeyId, input.friendlyName);
  const certBags = certificates.map((der, i) =>
    safeBag(CERT_BAG, sequence(oid(X509_CERTIFICATE), explicit(0, octetString(der))), i === 0 && input.privateKey ? leafAttributes : null),
  );
  const contents: Buffer[] = [];
  if (certBags.length) {
    const { algorithm: encryption, ciphertext } = await pbes2Encrypt(sequence(...certBags), input.password, ITERATIONS);
    const encryptedContentInfo = sequence(oid(DATA), encryption, tlv(0x80, ciphertext));
    contents.push(sequence(oid(ENCRYPTED_DATA), explicit(0, sequence(integer(0), encryptedContentInfo))));
  }
  if (input.privateKey) {
    const pkcs8 = input.privateKey.export({ type: 'pkcs8', format: 'der' });
    const { algorithm: encryption, ciphertext } = await pbes2Encrypt(pkcs8, input.password, ITERATIONS);
    const keyBag = safeBag(SHROUDED_KEY_BAG, sequence(encryption, octetString(ciphertext)), leafAttributes);
    contents.push(dataContentInfo(sequence(keyBag)));
  }
  const authSafe = sequence(...contents);
  const salt = randomBytes(8);
  const macKey = await pkcs12Kdf(bmpPassword(input.password), salt, ITERATIONS, 3, 32, 'sha256');
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const macData = sequence(sequence(algorithm(SHA256, nullValue()), octetString(mac)), octetString(salt), integer(ITERATIONS));
  return sequence(integer(3), dataContentInfo(authSafe), macData);
}

const dataContentInfo = (content: Buffer): Buffer => sequence(oid(DATA), explicit(0, octetString(content)));

function safeBag(bagId: string, value: Buffer, attributes: Buffer | null): Buffer {
  return attributes ? sequence(oid(bagId), explicit(0, value), attributes) : sequence(oid(bagId), explicit(0, value));
}

function bagAttributes(localKeyId: Buffer, friendlyName: string | undefined): Buffer {
  const attributes = [sequence(oid(LOCAL_KEY_ID), setOf(octetString(localKeyId)))];
  if (friendlyName) {
    const bmp = tlv(TAG.BMP_STRING, Buffer.from(friendlyName, 'utf16le').swap16());
    attributes.unshift(sequence(oid(FRIENDLY_NAME), setOf(bmp)));
  }
  return setOf(...attributes);
}

/** A certificate or key found in a PKCS#12 file, with its localKeyID. */
interface Bag {
  kind: 'certificate' | 'key';
  der: Buffer;
  localKeyId: Buffer | null;
}

/**
 * Reads a PKCS#12 file: PBES2 (AES or 3DES) and legacy PKCS#12 PBE (3DES, RC2) encryption, SHA-1/2
 * MACs, BER or DER. Certificates come back as PEM with the one matching the key first. The file's
 * key derivations (MAC and every encrypted bag) share one `KdfBudget` and run off the event loop.
 *
 * @throws Pkcs12PasswordError when the password is wrong; KdfLimitError when the file asks for too
 *   much key-derivation work; Pkcs12Error when the file cannot be read.
 */
export async function importPkcs12(der: Buffer, password: string, budget = new KdfBudget()): Promise<{ certificates: string[]; privateKey: KeyObject | null }> {
  let bags: Bag[];
  let keyBag: Bag | undefined;
  let privateKey: KeyObject | null;
  try {
    const [version, authSafe, macData] = sequenceOf(readNode(der), 'PFX');
    if (readInteger(version) !== 3n) throw new Pkcs12Error('Unsupported PKCS#12 version');
    const content = contentInfoData(authSafe);
    if (macData) await verifyMac(macData, content, password, budget);
    bags = [];
    for (const info of sequenceOf(readNode(content), 'AuthenticatedSafe')) bags.push(...(await safeContents(info, password, budget)));
    keyBag = bags.find((bag) => bag.kind === 'key');
    privateKey = keyBag ? createPrivateKey({ key: keyBag.der, format: 'der', type: 'pkcs8' }) : null;
  } catch (error) {
    if (error instanceof Pkcs12Error || error instanceof KdfLimitError) throw error;
    if (error instanceof UnsupportedAlgorithmError) throw new Pkcs12Error(error.message, { cause: error });
    throw new Pkcs12Error(`Malformed PKCS#12 file: ${(error as Error).message}`, { cause: error });
  }
  const certificates = bags.filter((bag) => bag.kind === 'certificate');
  const leaf = keyBag && privateKey ? certificates.find((bag) => matchesKey(bag, keyBag, privateKey)) : undefined;
  const ordered = leaf ? [leaf, ...certificates.filter((bag) => bag !== leaf)] : certificates;
  return { certificates: ordered.map((bag) => toPem('CERTIFICATE', bag.der)), privateKey };
}

/** The leaf shares the key's localKeyID, or failing that its public key. */
function matchesKey(certificate: Bag, key: Bag, privateKey: KeyObject): boolean {
  if (certificate.localKeyId && key.localKeyId) return certificate.localKeyId.equals(key.localKeyId);
  const [tbs] = sequenceOf(parseDer(certificate.der), 'Certificate');
  const fields = sequenceOf(tbs, 'TBSCertificate');
  const spki = fields[fields[0]?.tag === 0xa0 ? 6 : 5];
  return spki !== undefined && keyIdentifier(spki.raw).equals(keyIdentifier(spkiDer(privateKey)));
}

/** Content octets of a `data` ContentInfo. */
function contentInfoData(node: DerNode | undefined): Buffer {
  const [type, content] = sequenceOf(node, 'ContentInfo');
  if (readOid(type) !== DATA || !content) throw new Pkcs12Error('Only password-integrity PKCS#12 files are supported');
  return readOctets(childrenOf(content)[0]);
}

async function verifyMac(macData: DerNode, content: Buffer, password: string, budget: KdfBudget): Promise<void> {
  const [digestInfo, saltNode, iterationsNode] = sequenceOf(macData, 'MacData');
  const [digestAlgorithm, digestNode] = sequenceOf(digestInfo, 'DigestInfo');
  const hash = HASH_ALGORITHMS[readOid(childrenOf(digestAlgorithm)[0])];
  if (!hash) throw new Pkcs12Error('Unsupported PKCS#12 MAC algorithm');
  const expected = readOctets(digestNode);
  const salt = readOctets(saltNode);
  const iterations = iterationsNode ? readInteger(iterationsNode) : 1n;
  // OpenSSL also accepts an empty password encoded without its terminator (some tools write that).
  const secrets = password ? [bmpPassword(password)] : [bmpPassword(''), Buffer.alloc(0)];
  let matches = false;
  for (const secret of secrets) {
    const key = await pkcs12KdfAsync(secret, salt, iterations, 3, expected.length, hash, budget);
    const actual = createHmac(hash, key).update(content).digest();
    matches = actual.length === expected.length && timingSafeEqual(actual, expected);
    if (matches) break;
  }
  if (!matches) throw new Pkcs12PasswordError('Invalid password for the PKCS#12 file (MAC verification failed)');
}

async function safeContents(info: DerNode, password: string, budget: KdfBudget): Promise<Bag[]> {
  const [type, content] = sequenceOf(info, 'ContentInfo');
  const contentType = readOid(type);
  if (contentType === DATA) return bagsOf(readNode(contentInfoData(info)), password, budget);
  if (contentType !== ENCRYPTED_DATA || !content) throw new Pkcs12Error(`Unsupported PKCS#12 content type ${contentType}`);
  const [, encryptedContentInfo] = sequenceOf(childrenOf(content)[0], 'EncryptedData');
  const [, encryption, encrypted] = sequenceOf(encryptedContentInfo, 'EncryptedContentInfo');
  if (!encryption || !encrypted) throw new Pkcs12Error('EncryptedData without content');
  const ciphertext = encrypted.constructed ? readOctets({ ...encrypted, tag: 0x24, number: TAG.OCTET_STRING, tagClass: 0 }) : encrypted.body;
  return bagsOf(readNode(await decrypt(encryption, ciphertext, password, budget)), password, budget);
}

async function decrypt(encryption: DerNode, ciphertext: Buffer, password: string, budget: KdfBudget): Promise<Buffer> {
  try {
    return await pbeDecrypt(encryption, ciphertext, password, budget);
  } catch (error) {
    if (error instanceof UnsupportedAlgorithmError || error instanceof KdfLimitError) throw error;
    throw new Pkcs12PasswordError('Invalid password for the PKCS#12 file (decryption failed)', { cause: error });
  }
}

/** SafeContents inside safeContentsBags: tools write none or one; the bound keeps the recursion off the stack's limit. */
const MAX_SAFE_CONTENTS_NESTING = 8;

async function bagsOf(contents: DerNode, password: string, budget: KdfBudget, nesting = 0): Promise<Bag[]> {
  if (nesting > MAX_SAFE_CONTENTS_NESTING) throw new Pkcs12Error(`SafeContents nested more than ${MAX_SAFE_CONTENTS_NESTING} deep`);
  const found: Bag[] = [];
  for (const bag of sequenceOf(contents, 'SafeContents')) found.push(...(await bagOf(bag, password, budget, nesting)));
  return found;
}

async function bagOf(bag: DerNode, password: string, budget: KdfBudget, nesting: number): Promise<Bag[]> {
  const [id, wrapped, attributes] = sequenceOf(bag, 'SafeBag');
  const value = childrenOf(wrapped)[0];
  if (!value) throw new Pkcs12Error('SafeBag without a value');
  const localKeyId = attributes ? attributeOctets(attributes, LOCAL_KEY_ID) : null;
  switch (readOid(id)) {
    case KEY_BAG:
      return [{ kind: 'key', der: value.raw, localKeyId }];
    case SHROUDED_KEY_BAG: {
      const [encryption, data] = sequenceOf(value, 'EncryptedPrivateKeyInfo');
      return [{ kind: 'key', der: await decrypt(encryption!, readOctets(data), password, budget), localKeyId }];
    }
    case CERT_BAG: {
      const [type, certificate] = sequenceOf(value, 'CertBag');
      if (readOid(type) !== X509_CERTIFICATE || !certificate) return [];
      return [{ kind: 'certificate', der: readOctets(childrenOf(certificate)[0]), localKeyId }];
    }
    case SAFE_CONTENTS_BAG:
      return bagsOf(value, password, budget, nesting + 1);
    default:
      return []; // CRL and secret bags carry nothing certmid stores
  }
}

function attributeOctets(attributes: DerNode, type: string): Buffer | null {
  for (const attribute of childrenOf(attributes)) {
    const [id, values] = childrenOf(attribute);
    const first = values ? childrenOf(values)[0] : undefined;
    if (readOid(id) === type && first?.tag === TAG.OCTET_STRING) return first.body;
  }
  return null;
}
