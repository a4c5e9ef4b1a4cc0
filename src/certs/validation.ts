import { createPublicKey, type KeyObject } from 'node:crypto';
import { QueryFailedError, type Repository } from 'typeorm';
import { parseCertificate, parseCsr, verifySignedBy } from '../crypto/certificates.js';
import { checkExtensions, type CertExtensions } from '../crypto/extensions.js';
import { describeKey, KeyLoadError, publicKeysEqual, readPrivateKey as loadKey } from '../crypto/keys.js';
import { KdfLimitError } from '../crypto/pbe.js';
import { splitPem, toPem } from '../crypto/pem.js';
import { importPkcs12 } from '../crypto/pkcs12.js';
import { parseSan, SanError, type SanEntry } from '../crypto/san.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { selectRows } from '../db/row-statements.js';
import { COUNTRIES } from './countries.js';
import type { CertificateRowBase } from './entities.js';

const NAME_PATTERN = /^[a-z0-9_-]+$/i;
const NAME_TAKEN = 'A certificate with this name already exists';
const RESERVED_NAMES = ['external', 'self-signed', 'external - signature pending'];
/** Python's datetime tops out in year 9999; TrueNAS reports lifetimes past that as too long. */
const LATEST_NOT_AFTER = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * TrueNAS's three name rules, against one table (certificates and CAs have separate namespaces).
 * Each rule reports on its own, as in TrueNAS (a taken name with a space gets two errors); the
 * reserved words are matched case-sensitively, and the "exists" text is the same for CAs.
 */
export async function checkName(
  repository: Repository<CertificateRowBase>,
  name: string,
  attribute: string,
  errors: ValidationErrors,
  exceptId?: number,
): Promise<void> {
  // Only the id: the unique index on name answers this (one row at most) without reading the row.
  const [existing] = await selectRows(repository.manager, repository.target, '"name" = ?', [name], ['id']);
  if (existing && existing.id !== exceptId) errors.add(attribute, NAME_TAKEN);
  if (RESERVED_NAMES.includes(name)) errors.add(attribute, `${name} is a reserved internal keyword for Certificate Management`);
  if (!NAME_PATTERN.test(name)) errors.add(attribute, 'Use alphanumeric characters, "_" and "-".');
}

/** Whether a database error is the unique index on `name` refusing a duplicate, on SQLite or PostgreSQL. */
export function isDuplicateName(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: unknown; message?: unknown; detail?: unknown } | undefined;
  // better-sqlite3: SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: certificate_authority.name".
  if (typeof driverError?.code === 'string' && driverError.code.startsWith('SQLITE_CONSTRAINT')) {
    return /UNIQUE constraint failed: \w+\.name$/.test(String(driverError.message));
  }
  // PostgreSQL: unique_violation, detail "Key (name)=(dupca) already exists."
  return driverError?.code === '23505' && /^Key \(name\)=/.test(String(driverError.detail));
}

/**
 * Runs the transaction that writes a name. `checkName` runs before it, outside, so two creates or
 * renames to one name can both pass it; the unique index then refuses the later one, which is
 * reported as `checkName` reports a taken name instead of as an internal error. The transaction
 * has rolled back by then, so nothing of it is left.
 */
export async function writingName<T>(attribute: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isDuplicateName(error)) throw new ValidationErrors().add(attribute, NAME_TAKEN);
    throw error;
  }
}

/**
 * Normalises certificate input to PEM: PEM as is, base64 DER (no headers) becomes one PEM block.
 * Returns null for input that is neither.
 */
export function certificateInputToPem(input: string): string | null {
  const blocks = splitPem(input).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length > 0) return blocks.every((b) => parses(b.pem)) ? blocks.map((b) => b.pem.trim()).join('\n') + '\n' : null;
  const compact = input.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(compact)) return null;
  const pem = toPem('CERTIFICATE', Buffer.from(compact, 'base64'));
  return parses(pem) ? pem : null;
}

function parses(pem: string): boolean {
  try {
    parseCertificate(pem);
    return true;
  } catch {
    return false;
  }
}

/** What validation loaded, so the create path does not parse twice. */
export interface LoadedMaterial {
  privateKey: KeyObject | null;
  certificatePem: string | null;
  csrPem: string | null;
  san: SanEntry[];
}

export interface CommonInput {
  country?: string | undefined;
  certificate?: string | undefined;
  privatekey?: string | undefined;
  passphrase?: string | undefined;
  pkcs12?: string | undefined;
  CSR?: string | undefined;
  key_type?: string | undefined;
  key_length?: number | undefined;
  digest_algorithm?: string | undefined;
  lifetime?: number | undefined;
  san?: string[] | undefined;
  cert_extensions?: CertExtensions | undefined;
}

export interface CommonChecks {
  /** Whether the signing CA exists and can sign; checked by the caller, which knows the table. */
  signedbyValid?: boolean | undefined;
  signedbyGiven: boolean;
  csrIdValid?: boolean | undefined;
  csrIdGiven: boolean;
  /** Key size/type checks only apply to generated keys. */
  generatesKey: boolean;
}

/** TrueNAS tests these inputs with `if data.get(...)`: an empty string counts as not given. */
const given = (value: string | undefined): value is string => value !== undefined && value !== '';

/** TrueNAS's `_validate_common_attributes` (§1.1.6), in its order, plus chain-order and SAN checks. */
export async function validateCommon(input: CommonInput, schema: string, checks: CommonChecks, errors: ValidationErrors): Promise<LoadedMaterial> {
  const loaded: LoadedMaterial = { privateKey: null, certificatePem: null, csrPem: null, san: [] };
  if (given(input.country) && !(input.country in COUNTRIES)) {
    errors.add(`${schema}.country`, `${input.country} not in countries recognized by the system`);
  }
  if (input.pkcs12 !== undefined) {
    await readPkcs12(input.pkcs12, input.passphrase, `${schema}.pkcs12`, loaded, errors);
  }
  if (given(input.certificate)) {
    loaded.certificatePem = certificateInputToPem(input.certificate);
    if (!loaded.certificatePem) errors.add(`${schema}.certificate`, 'Not a valid certificate');
    else await checkChainOrder(loaded.certificatePem, `${schema}.certificate`, errors);
  }
  if (loaded.certificatePem && serialTooLong(loaded.certificatePem)) {
    errors.add(`${schema}.${given(input.certificate) ? 'certificate' : 'pkcs12'}`, "The certificate's serial number is longer than 20 octets (RFC 5280)");
  }
  if (given(input.privatekey)) {
    loaded.privateKey = await readPrivateKey(input.privatekey, input.passphrase, `${schema}.privatekey`, errors);
    if (loaded.privateKey && schema.includes('create')) {
      const info = describeKey(loaded.privateKey);
      if (info.keyType === 'RSA' && info.keyLength < 1024) errors.add(`${schema}.privatekey`, 'Key size must be greater than or equal to 1024 bits.');
    }
  }
  if (checks.signedbyGiven && !checks.signedbyValid) errors.add(`${schema}.signedby`, 'Please provide a valid signing authority');
  if (given(input.CSR)) {
    try {
      parseCsr(input.CSR);
      loaded.csrPem = input.CSR;
    } catch {
      errors.add(`${schema}.CSR`, 'Please provide a valid CSR');
    }
  }
  if (checks.csrIdGiven && !checks.csrIdValid) errors.add(`${schema}.csr_id`, 'Please provide a valid csr_id which has a valid CSR filed');
  if (loaded.certificatePem && loaded.privateKey && !errors.has(`${schema}.privatekey`)) {
    const certificateKey = parseCertificate(loaded.certificatePem).public_key;
    if (!publicKeysEqual(certificateKey, createPublicKey(loaded.privateKey))) errors.add(`${schema}.privatekey`, 'Private key does not match certificate: key values mismatch');
  }
  if (checks.generatesKey && input.key_type !== 'EC') {
    if (input.key_length === undefined) errors.add(`${schema}.key_length`, 'RSA-based keys require an entry in this field.');
    if (input.digest_algorithm === undefined) errors.add(`${schema}.digest_algorithm`, 'This field is required.');
  }
  if (errors.isEmpty && input.cert_extensions) {
    for (const [attribute, message] of checkExtensions(input.cert_extensions)) errors.add(`${schema}.${attribute}`, message);
  }
  if (input.lifetime !== undefined && (input.lifetime < 1 || Date.now() + input.lifetime * 86_400_000 > LATEST_NOT_AFTER)) {
    errors.add(`${schema}.lifetime`, input.lifetime < 1 ? 'Lifetime must be at least one day.' : 'Lifetime for the certificate is too long.');
  }
  if (input.san !== undefined) {
    try {
      loaded.san = parseSan(input.san);
    } catch (error) {
      if (!(error instanceof SanError)) throw error;
      errors.add(`${schema}.san.${error.index}`, error.message);
    }
  }
  return loaded;
}

/**
 * RFC 5280 §4.1.2.2: serial numbers are at most 20 octets. Longer ones would not fit the stored
 * serial column (decimal text), so they are refused rather than truncated.
 */
function serialTooLong(pem: string): boolean {
  const serial = BigInt(parseCertificate(pem).serial ?? 0);
  return (serial < 0n ? -serial : serial) >= 1n << 160n;
}

/** Base64 text without PEM armour is taken as DER, so keys can travel in JSON either way. */
export function keyInput(input: string): string | Buffer {
  const compact = input.replace(/\s+/g, '');
  return !input.includes('-----BEGIN') && /^[A-Za-z0-9+/]+=*$/.test(compact) ? Buffer.from(compact, 'base64') : input;
}

export async function readPrivateKey(input: string, passphrase: string | undefined, attribute: string, errors: ValidationErrors): Promise<KeyObject | null> {
  try {
    return await loadKey(keyInput(input), passphrase ?? null);
  } catch (error) {
    if (!(error instanceof KeyLoadError)) throw error;
    // "The private key's encryption asks for 4294967295 key-derivation iterations; at most 1000000 are accepted"
    errors.add(attribute, error.reason === 'too-costly' ? error.message : 'A valid private key is required, with a passphrase if one has been set.');
    return null;
  }
}

export async function readPkcs12(base64: string, passphrase: string | undefined, attribute: string, loaded: LoadedMaterial, errors: ValidationErrors): Promise<void> {
  try {
    const bundle = await importPkcs12(Buffer.from(base64.replace(/\s+/g, ''), 'base64'), passphrase ?? '');
    if (bundle.certificates.length === 0) {
      errors.add(attribute, 'The PKCS#12 bundle holds no certificate');
      return;
    }
    // A bag's DER is only checked for being DER; the rest of the import reads these as certificates.
    if (!bundle.certificates.every(parses)) {
      errors.add(attribute, 'Unable to read the PKCS#12 bundle: it is malformed or the passphrase is wrong');
      return;
    }
    loaded.certificatePem = bundle.certificates.map((c: string) => c.trim()).join('\n') + '\n';
    loaded.privateKey = bundle.privateKey;
  } catch (error) {
    if (error instanceof KdfLimitError) errors.add(attribute, `The PKCS#12 bundle ${error.message}`);
    else errors.add(attribute, 'Unable to read the PKCS#12 bundle: it is malformed or the passphrase is wrong');
  }
}

/** Each certificate of a chain must be signed by the one after it. */
async function checkChainOrder(pem: string, attribute: string, errors: ValidationErrors): Promise<void> {
  const blocks = splitPem(pem).map((b) => b.pem);
  for (let i = 0; i + 1 < blocks.length; i++) {
    if (!(await verifySignedBy(blocks[i]!, blocks[i + 1]!))) {
      errors.add(attribute, `The chain is not in order: certificate ${i + 1} is not signed by certificate ${i + 2}; give the leaf first, then each issuer`);
      return;
    }
  }
}

/** CA creates need a CA BasicConstraints and keyCertSign (§1.2.1). */
export function checkCaExtensions(ext: CertExtensions, schema: string, errors: ValidationErrors): void {
  const prefix = `${schema}.cert_extensions`;
  if (!ext.BasicConstraints.enabled) errors.add(`${prefix}.BasicConstraints.enabled`, 'This must be enabled for a Certificate Authority.');
  else if (!ext.BasicConstraints.ca) errors.add(`${prefix}.BasicConstraints.ca`, '"ca" must be enabled for a Certificate Authority.');
  if (!ext.KeyUsage.enabled) errors.add(`${prefix}.KeyUsage.enabled`, 'This must be enabled for a Certificate Authority.');
  else if (!ext.KeyUsage.key_cert_sign) errors.add(`${prefix}.KeyUsage.key_cert_sign`, '"key_cert_sign" must be enabled for a Certificate Authority.');
}

/** The fields a type requires, reported as TrueNAS's per-type schema does ("attribute required"). */
export function requireFields(data: Record<string, unknown>, fields: readonly string[], schema: string, errors: ValidationErrors): void {
  for (const field of fields) {
    const value = data[field];
    if (value === undefined || value === null) errors.add(`${schema}.${field}`, 'attribute required');
    else if (typeof value === 'string' && value.trim() === '') errors.add(`${schema}.${field}`, 'Empty value not allowed');
  }
}

/** Fields a type does not take, reported as "Field was not expected". */
export function rejectFields(data: Record<string, unknown>, fields: readonly string[], schema: string, errors: ValidationErrors): void {
  for (const field of fields) if (data[field] !== undefined) errors.add(`${schema}.${field}`, 'Field was not expected');
}

/**
 * Every field given beyond what a per-type schema takes (`certificate_create_imported` has five),
 * skipping those TrueNAS drops before dispatching (key and extension fields, defaults).
 */
export function rejectFieldsBut(data: Record<string, unknown>, takes: readonly string[], dropped: readonly string[], schema: string, errors: ValidationErrors): void {
  const extra = Object.keys(data).filter((field) => !takes.includes(field) && !dropped.includes(field) && data[field] !== undefined);
  rejectFields(data, extra, schema, errors);
}
