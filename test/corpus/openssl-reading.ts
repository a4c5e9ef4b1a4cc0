/**
 * What openssl itself reads from a corpus file, in the shapes certmid's entries report, so that a
 * test can compare the two field by field.
 */
import { createHash } from 'node:crypto';
import { opensslExtensions, opensslOk } from '../helpers/openssl.js';

/**
 * Names as Node's X509Certificate prints them (which `issuer_dn` is built from): RFC 2253 escapes,
 * UTF-8, one RDN a line, ` + ` inside one. The subject's values are read back without the escapes.
 */
const NAMEOPT = 'esc_2253,esc_ctrl,utf8,sep_multiline,sname';

/** One attribute of a name, as openssl prints it. */
type NameEntry = [type: string, value: string];

/** The name printed after `label=` with `sep_multiline`: one indented line per RDN, ` + ` inside one. */
function multilineName(output: string, label: string): string[] {
  const lines = output.split('\n');
  const start = lines.indexOf(`${label}=`);
  const rdns: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('    '); i++) rdns.push(lines[i]!.trim());
  return rdns;
}

function nameEntries(rdns: readonly string[]): NameEntry[] {
  return rdns.flatMap((rdn) =>
    rdn.split(' + ').map((attribute): NameEntry => {
      const at = attribute.indexOf('=');
      return [attribute.slice(0, at), attribute.slice(at + 1).replace(/\\(.)/g, '$1')];
    }),
  );
}

/** The subject fields and DN certmid reports, built from openssl's reading of the name and SAN. */
export interface SubjectReading {
  DN: string;
  common: string | null;
  country: string | null;
  state: string | null;
  city: string | null;
  organization: string | null;
  organizational_unit: string | null;
  email: string | null;
  san: string[];
}

const FIELD_TYPES: ReadonlyArray<[keyof Omit<SubjectReading, 'DN' | 'san'>, string]> = [
  ['common', 'CN'],
  ['country', 'C'],
  ['state', 'ST'],
  ['city', 'L'],
  ['organization', 'O'],
  ['organizational_unit', 'OU'],
  ['email', 'emailAddress'],
];

/**
 * TrueNAS's DN is pyOpenSSL's `/k=v` for every attribute in order, where a repeated type shows its
 * first value, followed by `/subjectAltName=…` when there is one.
 */
function subjectReading(entries: readonly NameEntry[], san: string[]): SubjectReading {
  const first = (type: string): string | null => entries.find(([candidate]) => candidate === type)?.[1] ?? null;
  const dn = `/${entries.map(([type]) => `${type}=${first(type)}`).join('/')}` + (san.length ? `/subjectAltName=${san.join(', ')}` : '');
  const fields = Object.fromEntries(FIELD_TYPES.map(([field, type]) => [field, first(type)])) as Omit<SubjectReading, 'DN' | 'san'>;
  return { DN: dn, ...fields, san };
}

const sanOf = (extensions: ReturnType<typeof opensslExtensions>): string[] =>
  extensions.find((extension) => extension.title === 'X509v3 Subject Alternative Name')?.value.split(', ') ?? [];

/** Key type and size as certmid names them (TrueNAS calls Ed25519 keys "EC" of length 32), from openssl's text of a key or certificate. */
export function keyKind(text: string): { key_type: string; key_length: number } {
  if (/ED25519 (Private|Public)-Key|Public Key Algorithm: ED25519/.test(text)) return { key_type: 'EC', key_length: 32 };
  return { key_type: /^\s*Modulus:/m.test(text) ? 'RSA' : 'EC', key_length: Number(/(?:Public|Private)-Key: \((\d+) bit/.exec(text)?.[1]) };
}

/** The PEM blocks of a text, and their DER. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): Array<{ pem: string; der: Buffer }> {
  const pattern = new RegExp(`-----BEGIN ${label}-----\\r?\\n([\\s\\S]+?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((match) => ({ pem: `${match[0]}\n`, der: Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64') }));
}

/** The digest certmid names from a signature algorithm: `sha384WithRSAEncryption` and `ecdsa-with-SHA384` are SHA384. */
function digestName(text: string): string {
  const algorithm = /Signature Algorithm: (\S+)/.exec(text)?.[1] ?? '';
  const rsa = /^(sha\d+)With/i.exec(algorithm);
  return rsa ? rsa[1]!.toUpperCase() : (algorithm.split('-').pop() ?? algorithm);
}

export interface CertificateReading extends SubjectReading {
  issuer_dn: string;
  serial: bigint;
  serial_hex: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint: string;
  fingerprint_sha256: string;
  digest_algorithm: string;
  /** Extension texts in certificate order. */
  extensions: string[];
  is_ca: boolean;
  key: { key_type: string; key_length: number };
  der: Buffer;
}

/** openssl's reading of one certificate (PEM text or DER bytes; the first of a PEM chain), in one run. */
export async function readCertificate(input: string | Buffer): Promise<CertificateReading> {
  const inform = typeof input === 'string' ? 'PEM' : 'DER';
  const { stdout } = await opensslOk(['x509', '-inform', inform, '-subject', '-issuer', '-nameopt', NAMEOPT, '-serial', '-startdate', '-enddate', '-fingerprint', '-sha1', '-text'], input);
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(stdout)?.[1] ?? '';
  const extensions = opensslExtensions(stdout);
  const serialHex = value('serial');
  const der = pemBlocks(stdout)[0]!.der;
  return {
    ...subjectReading(nameEntries(multilineName(stdout, 'subject')), sanOf(extensions)),
    issuer_dn: `/${multilineName(stdout, 'issuer').join('/')}`,
    serial: BigInt(`0x${serialHex}`),
    serial_hex: serialHex,
    notBefore: new Date(value('notBefore')),
    notAfter: new Date(value('notAfter')),
    fingerprint: value('sha1 Fingerprint'),
    fingerprint_sha256: createHash('sha256').update(der).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:'),
    digest_algorithm: digestName(stdout),
    extensions: extensions.map((extension) => extension.value),
    is_ca: extensions.some((extension) => extension.title === 'X509v3 Basic Constraints' && extension.value.startsWith('CA:TRUE')),
    key: keyKind(stdout),
    der,
  };
}

export interface CsrReading extends SubjectReading {
  extensions: string[];
  key: { key_type: string; key_length: number };
  der: Buffer;
}

/** openssl's reading of a PEM CSR, in one run. */
export async function readCsr(pem: string): Promise<CsrReading> {
  const { stdout } = await opensslOk(['req', '-subject', '-nameopt', NAMEOPT, '-text'], pem);
  const extensions = opensslExtensions(stdout);
  return {
    ...subjectReading(nameEntries(multilineName(stdout, 'subject')), sanOf(extensions)),
    extensions: extensions.map((extension) => extension.value),
    key: keyKind(stdout),
    der: pemBlocks(stdout, 'CERTIFICATE REQUEST')[0]!.der,
  };
}

/** The public key (SPKI PEM) and kind of a private key, opened with its passphrase when it has one. */
export async function readKey(input: string | Buffer, options: { passphrase?: string | null; inform?: 'PEM' | 'DER' } = {}): Promise<{ publicKey: string; kind: { key_type: string; key_length: number } }> {
  const { stdout } = await opensslOk(['pkey', '-inform', options.inform ?? 'PEM', '-passin', `pass:${options.passphrase ?? ''}`, '-pubout', '-text'], input);
  return { publicKey: pemBlocks(stdout, 'PUBLIC KEY')[0]!.pem, kind: keyKind(stdout) };
}

/** The certificates (the one with the key's localKeyID first) and the key of a PKCS#12 bundle, as PEM. */
export async function readPkcs12(der: Buffer, passphrase: string, legacy: boolean): Promise<{ leaf: string; others: string[]; key: string }> {
  const { stdout } = await opensslOk(['pkcs12', '-passin', `pass:${passphrase}`, ...(legacy ? ['-legacy'] : []), '-nodes'], der);
  // Each block follows its bag attributes; the leaf's carry the localKeyID it shares with the key.
  const sections = stdout.split(/(?=Bag Attributes)/);
  const certificates = sections.filter((section) => section.includes('BEGIN CERTIFICATE'));
  const leaf = certificates.find((section) => section.includes('localKeyID'));
  return {
    leaf: pemBlocks(leaf ?? '')[0]?.pem ?? '',
    others: certificates.filter((section) => section !== leaf).map((section) => pemBlocks(section)[0]!.pem),
    key: pemBlocks(stdout, 'PRIVATE KEY')[0]?.pem ?? '',
  };
}
