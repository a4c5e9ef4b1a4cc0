import { createHash, createHmac, createPrivateKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ContentInfo, EncryptedContent, EncryptedContentInfo, id_data, id_encryptedData } from '@peculiar/asn1-cms';
import {
  AuthenticatedSafe,
  CertBag,
  MacData,
  PFX,
  PKCS12Attribute,
  PKCS8ShroudedKeyBag,
  SafeBag,
  SafeContents,
  id_SafeContents,
  id_certBag,
  id_keyBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
} from '@peculiar/asn1-pfx';
import { EncryptedData as EncryptedOctets, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { FriendlyName, id_pkcs9_at_friendlyName, id_pkcs9_at_localKeyId } from '@peculiar/asn1-pkcs9';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AsnConvert, AsnPropTypes, OctetString, type IAsnConvertible } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { Asn1Error, parseBer } from './asn1.js';
import { spkiDer } from './keys.js';
import {
  DIGESTS,
  KdfBudget,
  KdfLimitError,
  UnsupportedAlgorithmError,
  bmpPassword,
  pbeDecrypt,
  pbes2Encrypt,
  pkcs12Kdf,
  pkcs12KdfAsync,
  sequenceSchema,
} from './pbe.js';
import { splitPem, toPem } from './pem.js';

const SHA256 = '2.16.840.1.101.3.4.2.1';

/** CMS EncryptedData (RFC 5652 §8), which the CMS schema package lacks; unprotectedAttrs are never written by PKCS#12 tools. */
export class EncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();

  constructor(params: Partial<EncryptedData> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(EncryptedData, { version: { type: AsnPropTypes.Integer }, encryptedContentInfo: { type: EncryptedContentInfo } });

/**
 * An OCTET STRING in DER or in BER's constructed segments (some tools write PKCS#12 contents that
 * way), which the schema package's OctetString reads as empty.
 */
class SegmentedOctetString implements IAsnConvertible {
  bytes = Buffer.alloc(0);

  fromASN(asn: Parameters<OctetString['fromASN']>[0]): this {
    new OctetString().fromASN(asn); // refuses anything but an OCTET STRING
    this.bytes = Buffer.from((asn as unknown as { getValue(): ArrayBuffer }).getValue());
    return this;
  }

  toASN(): ReturnType<OctetString['toASN']> {
    return new OctetString(this.bytes).toASN();
  }

  toSchema(name: string): ReturnType<OctetString['toSchema']> {
    return new OctetString().toSchema(name);
  }
}

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
  const certBags = certificates.map((der, i) => {
    const certBag = new CertBag({ certId: id_x509Certificate, certValue: AsnConvert.serialize(new OctetString(der)) });
    return safeBag(id_certBag, certBag, i === 0 && input.privateKey ? leafAttributes : undefined);
  });
  const contents: ContentInfo[] = [];
  if (certBags.length) {
    const { algorithm, ciphertext } = await pbes2Encrypt(encode(new SafeContents(certBags)), input.password, ITERATIONS);
    const encryptedContentInfo = new EncryptedContentInfo({
      contentType: id_data,
      contentEncryptionAlgorithm: algorithm,
      encryptedContent: new EncryptedContent({ value: new OctetString(ciphertext) }),
    });
    contents.push(new ContentInfo({ contentType: id_encryptedData, content: AsnConvert.serialize(new EncryptedData({ encryptedContentInfo })) }));
  }
  if (input.privateKey) {
    const pkcs8 = input.privateKey.export({ type: 'pkcs8', format: 'der' });
    const { algorithm, ciphertext } = await pbes2Encrypt(pkcs8, input.password, ITERATIONS);
    const keyBag = new PKCS8ShroudedKeyBag({ encryptionAlgorithm: algorithm, encryptedData: new EncryptedOctets(ciphertext) });
    contents.push(dataContentInfo(encode(new SafeContents([safeBag(id_pkcs8ShroudedKeyBag, keyBag, leafAttributes)]))));
  }
  const authSafe = encode(new AuthenticatedSafe(contents));
  const salt = randomBytes(8);
  const macKey = await pkcs12Kdf(bmpPassword(input.password), salt, ITERATIONS, 3, 32, 'sha256');
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const macData = new MacData({
    mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: SHA256, parameters: null }), digest: new OctetString(mac) }),
    macSalt: new OctetString(salt),
    iterations: ITERATIONS,
  });
  return encode(new PFX({ version: 3, authSafe: dataContentInfo(authSafe), macData }));
}

const encode = (value: object): Buffer => Buffer.from(AsnConvert.serialize(value));

const dataContentInfo = (content: Buffer): ContentInfo => new ContentInfo({ contentType: id_data, content: AsnConvert.serialize(new OctetString(content)) });

function safeBag(bagId: string, value: object, attributes: PKCS12Attribute[] | undefined): SafeBag {
  return new SafeBag({ bagId, bagValue: AsnConvert.serialize(value), bagAttributes: attributes });
}

/** localKeyID and friendlyName, in DER's SET OF order (sorted by encoding). */
function bagAttributes(localKeyId: Buffer, friendlyName: string | undefined): PKCS12Attribute[] {
  const attributes = [attribute(id_pkcs9_at_localKeyId, new OctetString(localKeyId))];
  if (friendlyName) attributes.push(attribute(id_pkcs9_at_friendlyName, new FriendlyName(friendlyName)));
  return attributes.sort((a, b) => encode(a).compare(encode(b)));
}

function attribute(attrId: string, value: object): PKCS12Attribute {
  // Its constructor drops its parameters; the fields are set one by one.
  const result = new PKCS12Attribute();
  result.attrId = attrId;
  result.attrValues = [AsnConvert.serialize(value)];
  return result;
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
  try {
    const pfx = parseBer(der, PFX);
    if (pfx.version !== 3) throw new Pkcs12Error('Unsupported PKCS#12 version');
    const content = contentInfoData(pfx.authSafe);
    // An absent MacData is left as the schema class's empty default, whose algorithm no file can have.
    if (pfx.macData.mac.digestAlgorithm.algorithm) await verifyMac(pfx.macData, content, password, budget);
    const bags: Bag[] = [];
    for (const info of parseBer(content, AuthenticatedSafe)) bags.push(...(await safeContents(info, password, budget)));
    const keyBag = bags.find((bag) => bag.kind === 'key');
    const privateKey = keyBag ? createPrivateKey({ key: keyBag.der, format: 'der', type: 'pkcs8' }) : null;
    const certificates = bags.filter((bag) => bag.kind === 'certificate');
    const leaf = keyBag && privateKey ? certificates.find((bag) => matchesKey(bag, keyBag, privateKey)) : undefined;
    const ordered = leaf ? [leaf, ...certificates.filter((bag) => bag !== leaf)] : certificates;
    return { certificates: ordered.map((bag) => toPem('CERTIFICATE', bag.der)), privateKey };
  } catch (error) {
    if (error instanceof Pkcs12Error || error instanceof KdfLimitError) throw error;
    if (error instanceof UnsupportedAlgorithmError) throw new Pkcs12Error(error.message, { cause: error });
    // The decoder's message says all; it has no cause worth keeping.
    if (error instanceof Asn1Error) throw new Pkcs12Error(`Malformed PKCS#12 file: ${error.message}`);
    throw new Pkcs12Error(`Malformed PKCS#12 file: ${(error as Error).message}`, { cause: error });
  }
}

/** The leaf shares the key's localKeyID, or failing that its public key. */
function matchesKey(certificate: Bag, key: Bag, privateKey: KeyObject): boolean {
  if (certificate.localKeyId && key.localKeyId) return certificate.localKeyId.equals(key.localKeyId);
  const certificateKey = parseBer(certificate.der, Certificate).tbsCertificate.subjectPublicKeyInfo.subjectPublicKey;
  const ownKey = parseBer(spkiDer(privateKey), SubjectPublicKeyInfo).subjectPublicKey;
  return Buffer.from(certificateKey).equals(Buffer.from(ownKey));
}

/** Content octets of a `data` ContentInfo. */
function contentInfoData(info: ContentInfo): Buffer {
  if (info.contentType !== id_data) throw new Pkcs12Error('Only password-integrity PKCS#12 files are supported');
  return parseBer(info.content, SegmentedOctetString).bytes;
}

async function verifyMac(macData: MacData, content: Buffer, password: string, budget: KdfBudget): Promise<void> {
  const hash = DIGESTS[macData.mac.digestAlgorithm.algorithm];
  if (!hash) throw new Pkcs12Error('Unsupported PKCS#12 MAC algorithm');
  const expected = Buffer.from(macData.mac.digest.buffer);
  const salt = Buffer.from(macData.macSalt.buffer);
  // The schema reads a count of four bytes or more as its decimal text.
  const iterations = BigInt(macData.iterations);
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

async function safeContents(info: ContentInfo, password: string, budget: KdfBudget): Promise<Bag[]> {
  if (info.contentType === id_data) return bagsOf(contentInfoData(info), password, budget);
  if (info.contentType !== id_encryptedData) throw new Pkcs12Error(`Unsupported PKCS#12 content type ${info.contentType}`);
  const { contentEncryptionAlgorithm, encryptedContent } = parseBer(info.content, EncryptedData).encryptedContentInfo;
  const ciphertext = encryptedContent?.value ?? encryptedContent?.constructedValue;
  if (!ciphertext) throw new Pkcs12Error('EncryptedData without content');
  const octets = Array.isArray(ciphertext) ? Buffer.concat(ciphertext.map((segment) => Buffer.from(segment.buffer))) : Buffer.from(ciphertext.buffer);
  return bagsOf(await decrypt(contentEncryptionAlgorithm, octets, password, budget), password, budget);
}

async function decrypt(encryption: AlgorithmIdentifier, ciphertext: Buffer, password: string, budget: KdfBudget): Promise<Buffer> {
  try {
    return await pbeDecrypt(encryption, ciphertext, password, budget);
  } catch (error) {
    if (error instanceof UnsupportedAlgorithmError || error instanceof KdfLimitError) throw error;
    throw new Pkcs12PasswordError('Invalid password for the PKCS#12 file (decryption failed)', { cause: error });
  }
}

/** SafeContents inside safeContentsBags: tools write none or one; the bound keeps the recursion off the stack's limit. */
const MAX_SAFE_CONTENTS_NESTING = 8;

async function bagsOf(contents: ArrayBuffer | Buffer, password: string, budget: KdfBudget, nesting = 0): Promise<Bag[]> {
  if (nesting > MAX_SAFE_CONTENTS_NESTING) throw new Pkcs12Error(`SafeContents nested more than ${MAX_SAFE_CONTENTS_NESTING} deep`);
  const found: Bag[] = [];
  for (const bag of parseBer(contents, SafeContents)) found.push(...(await bagOf(bag, password, budget, nesting)));
  return found;
}

async function bagOf(bag: SafeBag, password: string, budget: KdfBudget, nesting: number): Promise<Bag[]> {
  const value = bag.bagValue;
  const localKeyId = attributeOctets(bag.bagAttributes ?? [], id_pkcs9_at_localKeyId);
  switch (bag.bagId) {
    case id_keyBag:
      return [{ kind: 'key', der: Buffer.from(value), localKeyId }];
    case id_pkcs8ShroudedKeyBag: {
      const { encryptionAlgorithm, encryptedData } = parseBer(value, EncryptedPrivateKeyInfo);
      return [{ kind: 'key', der: await decrypt(encryptionAlgorithm, Buffer.from(encryptedData.buffer), password, budget), localKeyId }];
    }
    case id_certBag: {
      const { certId, certValue } = parseBer(value, CertBag);
      if (certId !== id_x509Certificate) return [];
      return [{ kind: 'certificate', der: parseBer(certValue, SegmentedOctetString).bytes, localKeyId }];
    }
    case id_SafeContents:
      return bagsOf(value, password, budget, nesting + 1);
    default:
      return []; // CRL and secret bags carry nothing certmid stores
  }
}

/** The first value of attribute `type` when it is an OCTET STRING. */
function attributeOctets(attributes: PKCS12Attribute[], type: string): Buffer | null {
  for (const { attrId, attrValues } of attributes) {
    const [first] = attrValues;
    if (attrId !== type || !first) continue;
    try {
      return Buffer.from(parseBer(first, OctetString).buffer);
    } catch {
      continue; // another type: no usable localKeyID
    }
  }
  return null;
}
