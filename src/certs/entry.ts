import { opensslIssuerDn } from '../crypto/certificates.js';
import { splitPem } from '../crypto/pem.js';
import { REDACTED } from '../secrets.js';
import {
  CA_TYPE_EXISTING,
  CA_TYPE_INTERMEDIATE,
  CA_TYPE_INTERNAL,
  CERT_TYPE_CSR,
  CERT_TYPE_EXISTING,
  CERT_TYPE_INTERNAL,
  type CertificateAuthorityRow,
  type CertificateRow,
  type CertificateRowBase,
} from './entities.js';
import { entryPaths } from './files/layout.js';
import type { CertificateUse } from './usage.js';
import type { PreviousVersion } from './versions.js';

export type Entry = Record<string, unknown>;

/** A revoked certificate or CA below some CA, as `revoked_certs` lists it. */
export interface RevokedMember {
  id: number;
  name: string;
  serial: string | null;
  revoked_date: Date;
  revoked_reason: string | null;
  cert_type: 'CERTIFICATE' | 'CA';
  signedby_id: number | null;
  /** Its stored row, which TrueNAS lists whole (`get_ca_chain`'s rows). */
  row: CertificateRowBase;
}

/** A certificate or intermediate CA a CA signed, as `signed_entries` lists it. */
export interface SignedMember {
  id: number;
  name: string;
  type: 'CERTIFICATE' | 'CA';
}

/** Everything entries are built from besides their own row; gathered once per query. */
export interface EntryContext {
  now: Date;
  /**
   * Which private keys are shown, else "********": certificates' (FULL_ADMIN or CERTIFICATE_WRITE)
   * and CAs' (FULL_ADMIN or CERTIFICATE_AUTHORITY_WRITE), whichever entry they are nested in.
   */
  keys: { readonly certificates: boolean; readonly authorities: boolean };
  decrypt: (sealed: string) => string;
  /** Opens many sealed texts at once (see `SecretBox.decryptMany`): those that open, by sealed text. */
  decryptMany: (sealed: readonly string[]) => Promise<ReadonlyMap<string, string>>;
  /**
   * The secrets the rows being built show, opened together before their entries are built (see
   * `sealedShown`), by sealed text; one not here is decrypted where it is shown.
   */
  opened: ReadonlyMap<string, string>;
  /**
   * CAs' private keys this context has decrypted, by sealed text: a CA's key shows in its entry and
   * again as `signedby` of each revoked row below it. Kept only as long as the context (one reply).
   */
  caKeys: Map<string, string>;
  /** CERTIFICATES_DIR: the paths entries name are where the daemon writes their files. */
  certificatesDir: string;
  /** Base URL of the daemon's CRL and CA-certificate endpoints, e.g. "http://127.0.0.1:8470". */
  publicBaseUrl: string;
  caRows: ReadonlyMap<number, CertificateAuthorityRow>;
  /** How many certificates each CA signed, for the CAs of the rows being built (see `loadSignedCertificateCounts`). */
  signedCertificateCounts: ReadonlyMap<number, number>;
  /** Counts the certificates the CAs `caIds` signed, before entries naming them are built. */
  loadSignedCertificateCounts: (caIds: readonly number[]) => Promise<ReadonlyMap<number, number>>;
  revokedMembers: readonly RevokedMember[];
  caEntries: Map<number, Entry>;
  /** ACME registrations without their keys (the `acme` object of ACME certificates), by id, for the rows being built (see `loadAcmeRegistrations`). */
  acmeRegistrations: ReadonlyMap<number, Entry>;
  /** Reads the ACME registrations `ids`, before the entries of certificates issued through them are built. */
  loadAcmeRegistrations: (ids: readonly number[]) => Promise<ReadonlyMap<number, Entry>>;
  /** What uses each certificate (the UI, deploy targets), by certificate id, for the rows being built (see `loadUses`). */
  uses: ReadonlyMap<number, readonly CertificateUse[]>;
  /** Reads what uses the certificates `ids`, before their entries are built. */
  loadUses: (ids: readonly number[]) => Promise<ReadonlyMap<number, readonly CertificateUse[]>>;
  /** The versions renewals replaced, newest first, by certificate id, for the rows being built (see `loadPreviousVersions`). */
  previousVersions: ReadonlyMap<number, readonly PreviousVersion[]>;
  /** Reads the previous versions of the certificates `ids`, before their entries are built. */
  loadPreviousVersions: (ids: readonly number[]) => Promise<ReadonlyMap<number, readonly PreviousVersion[]>>;
  /** What each CA signed directly, by CA id; only CA entries (not the CAs nested in certificates) list it. */
  signedBy?: ReadonlyMap<number, readonly SignedMember[]>;
  /** Reads what the CAs `caIds` signed directly, before their entries are built; set with `signedBy`. */
  loadSignedBy?: (caIds: readonly number[]) => Promise<ReadonlyMap<number, readonly SignedMember[]>>;
}

const DAY_MS = 86_400_000;

/** Python's `ctime()` in the server's local time: "Tue Dec  8 16:13:59 2027". */
export function ctime(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days[date.getDay()]} ${months[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${date.getFullYear()}`;
}

/** Serials up to 2^53 travel as numbers, as TrueNAS sends them; larger ones as decimal strings. */
function serialValue(serial: string | null): number | string | null {
  if (serial === null) return null;
  const n = Number(serial);
  return Number.isSafeInteger(n) ? n : serial;
}

function isCaType(type: number): boolean {
  return (type & (CA_TYPE_EXISTING | CA_TYPE_INTERNAL | CA_TYPE_INTERMEDIATE)) !== 0;
}

/** Whether `text` has more than one `-----BEGIN ` line, as a PEM chain has. */
function hasSecondPemBlock(text: string): boolean {
  const first = text.indexOf('-----BEGIN ');
  return first !== -1 && text.indexOf('-----BEGIN ', first + 1) !== -1;
}

/** The PEM blocks of the entry's chain: its own blocks if it holds a chain, else itself and its CAs on this system. */
export function chainPems(row: CertificateRowBase, ctx: Pick<EntryContext, 'caRows'>): string[] {
  if (!row.certificate || row.type & CERT_TYPE_CSR) return [];
  // Only text with two BEGIN lines can hold a chain: the usual single certificate is not decoded.
  if (hasSecondPemBlock(row.certificate)) {
    const blocks = splitPem(row.certificate).filter((b) => b.label === 'CERTIFICATE');
    if (blocks.length > 1) return blocks.map((b) => b.pem.trim() + '\n');
  }
  const chain = [row.certificate];
  const seen = new Set<number>();
  for (let id = row.signedby_id; id !== null && !seen.has(id); ) {
    seen.add(id);
    const ca = ctx.caRows.get(id);
    if (!ca?.certificate) break;
    chain.push(ca.certificate);
    id = ca.signedby_id;
  }
  return chain;
}

/**
 * The issuer's DN in the entries' DN style (`/C=US/O=Example/CN=Example CA`), as stored with the
 * row's details. Rows without it (written by an older daemon sharing the database) are parsed.
 */
function issuerDnOf(row: CertificateRowBase): string | null {
  const stored = row.details.issuer_dn;
  if (stored !== undefined) return stored;
  return row.certificate ? opensslIssuerDn(row.certificate) : null;
}

function issuerOf(row: CertificateRowBase, ctx: EntryContext): unknown {
  if (row.type & (CA_TYPE_EXISTING | CERT_TYPE_EXISTING)) return 'external';
  if (row.type & CA_TYPE_INTERNAL) return 'self-signed';
  if (row.type & CERT_TYPE_CSR) return 'external - signature pending';
  return row.signedby_id === null ? null : caEntryById(row.signedby_id, ctx);
}

function caEntryById(id: number, ctx: EntryContext): Entry | null {
  const cached = ctx.caEntries.get(id);
  if (cached) return cached;
  const row = ctx.caRows.get(id);
  return row ? caEntry(row, ctx) : null;
}

/**
 * The fields certificates and CAs share, in TrueNAS's order (CERT_ENTRY). Added one by one by name:
 * spreads and Object.assign leave an object of this many keys in dictionary mode, which
 * JSON.stringify and Object.keys walk several times slower.
 */
function baseEntry(row: CertificateRowBase, ctx: EntryContext, acme: AcmeFields | null): Entry {
  const ca = isCaType(row.type);
  const csr = (row.type & CERT_TYPE_CSR) !== 0;
  const d = row.details;
  const paths = entryPaths(ctx.certificatesDir, row.name, ca);
  const notAfter = d.not_after === null ? null : new Date(d.not_after);
  const notBefore = d.not_before === null ? null : new Date(d.not_before);
  const revoked = row.revoked_date !== null;
  const revealKey = mayReadKeyOf(row, ctx);
  const entry: Entry = { id: row.id, type: row.type, name: row.name, certificate: row.certificate, privatekey: privateKeyShown(row, ctx), CSR: row.CSR };
  if (acme) addAcmeFields(entry, acme);
  entry.revoked_date = row.revoked_date;
  entry.signedby = row.signedby_id === null ? null : caEntryById(row.signedby_id, ctx);
  entry.root_path = paths.root;
  if (acme) entry.acme = acme.registration;
  entry.certificate_path = paths.certificate;
  entry.privatekey_path = paths.privatekey;
  entry.csr_path = paths.csr;
  entry.cert_type = ca ? 'CA' : 'CERTIFICATE';
  entry.revoked = revoked;
  if (!csr) entry.expired = d.parsed && notAfter ? ctx.now > notAfter : null;
  // A private field in TrueNAS: redacted like the row's own private key.
  entry.issuer = revealKey ? issuerOf(row, ctx) : REDACTED;
  // A certmid addition: the issuer as the certificate names it, since `issuer` says only
  // "external" for imported ones.
  entry.issuer_dn = csr ? null : issuerDnOf(row);
  entry.chain_list = chainPems(row, ctx);
  entry.country = d.country;
  entry.state = d.state;
  entry.city = d.city;
  entry.organization = d.organization;
  entry.organizational_unit = d.organizational_unit;
  entry.san = d.parsed ? d.san : null;
  entry.email = d.email;
  entry.DN = d.DN;
  entry.subject_name_hash = d.subject_name_hash;
  if (!csr) entry.digest_algorithm = d.digest_algorithm;
  entry.from = !csr && notBefore ? ctime(notBefore) : null;
  entry.common = d.common;
  entry.until = !csr && notAfter ? ctime(notAfter) : null;
  if (!csr) entry.fingerprint = d.fingerprint;
  entry.key_type = d.key_type;
  entry.internal = row.type & (CA_TYPE_EXISTING | CERT_TYPE_EXISTING) ? 'NO' : 'YES';
  if (!csr) entry.lifetime = d.lifetime;
  if (!csr) entry.serial = serialValue(d.serial);
  entry.key_length = d.key_length;
  entry.add_to_trusted_store = row.add_to_trusted_store;
  if (!csr) entry.chain = d.chain;
  entry.CA_type_existing = (row.type & CA_TYPE_EXISTING) !== 0;
  entry.CA_type_internal = (row.type & CA_TYPE_INTERNAL) !== 0;
  entry.CA_type_intermediate = (row.type & CA_TYPE_INTERMEDIATE) !== 0;
  entry.cert_type_existing = (row.type & CERT_TYPE_EXISTING) !== 0;
  entry.cert_type_internal = (row.type & CERT_TYPE_INTERNAL) !== 0;
  entry.cert_type_CSR = csr;
  entry.parsed = d.parsed;
  entry.can_be_revoked = ca ? row.privatekey !== null && !revoked : row.signedby_id !== null && !revoked;
  entry.extensions = d.extensions;
  // Additions beyond TrueNAS: ISO 8601 dates, a SHA-256 fingerprint, days left, why it was revoked.
  entry.not_before = notBefore?.toISOString() ?? null;
  entry.not_after = notAfter?.toISOString() ?? null;
  entry.fingerprint_sha256 = csr ? null : d.fingerprint_sha256;
  // Whole days, toward zero: 5.5 days ago reads -5, as "expired 5 days ago".
  entry.days_left = !csr && notAfter ? Math.trunc((notAfter.getTime() - ctx.now.getTime()) / DAY_MS) : null;
  entry.not_yet_valid = !csr && notBefore ? ctx.now < notBefore : null;
  entry.revoked_reason = row.revoked_reason;
  return entry;
}

/** What an ACME certificate's entry has beyond its row's common fields. */
interface AcmeFields {
  row: CertificateRow;
  domainsAuthenticators: unknown;
  /** The registration it was issued through, without its keys. */
  registration: Entry | null;
}

/** TrueNAS's ACME fields, and ours on the state of its renewal (key rotation, the last failure, backoff). */
function addAcmeFields(entry: Entry, { row, domainsAuthenticators }: AcmeFields): void {
  entry.acme_uri = row.acme_uri;
  entry.domains_authenticators = domainsAuthenticators;
  entry.renew_days = row.renew_days;
  addRenewalState(entry, row);
}

/** Additions beyond TrueNAS: whether a renewal makes a new key, and how renewing has gone. */
function addRenewalState(entry: Entry, row: CertificateRow): void {
  entry.rotate_key = row.rotate_key;
  entry.renewal_error = row.renewal_error;
  entry.renewal_attempts = row.renewal_attempts;
  entry.renewal_next_attempt = row.renewal_next_attempt?.toISOString() ?? null;
}

/** `certificate.query` entry. The ACME fields (TrueNAS's four and ours on renewal) are present only for ACME certificates. */
export function certificateEntry(row: CertificateRow, ctx: EntryContext): Entry {
  const acmeFields: AcmeFields | null =
    row.acme_id === null
      ? null
      : {
          row,
          domainsAuthenticators: row.domains_authenticators ? (JSON.parse(openSecret(row.domains_authenticators, ctx)) as unknown) : null,
          registration: ctx.acmeRegistrations.get(row.acme_id) ?? null,
        };
  const entry = baseEntry(row, ctx, acmeFields);
  // Revoked at the CA that issued it (RFC 8555 §7.6): no CA on this system needed.
  if (row.acme_id !== null) entry.can_be_revoked = row.revoked_date === null;
  // certmid additions: automatic renewal of a certificate signed here (ACME ones carry theirs
  // above), what presents or needs it (`[{"type": "UI", "name": "UI Service"}]`), and the
  // versions renewals replaced.
  if (row.acme_id === null && row.type & CERT_TYPE_INTERNAL && row.signedby_id !== null) {
    entry.auto_renew = row.auto_renew;
    entry.renew_days = row.renew_days;
    addRenewalState(entry, row);
  }
  entry.used_by = ctx.uses.get(row.id) ?? [];
  entry.previous_versions = ctx.previousVersions.get(row.id) ?? [];
  return entry;
}

/** `certificateauthority.query` entry, with its revoked subtree, signed count, CRL path and URL. */
export function caEntry(row: CertificateAuthorityRow, ctx: EntryContext): Entry {
  const entry = baseEntry(row, ctx, null);
  entry.revoked_certs = revokedBelow(row.id, ctx);
  entry.crl_path = entryPaths(ctx.certificatesDir, row.name, true).crl;
  entry.signed_certificates = ctx.signedCertificateCounts.get(row.id) ?? 0;
  // A certmid addition (TrueNAS's signed_certificates is a count): what it signed, by name.
  if (ctx.signedBy) entry.signed_entries = ctx.signedBy.get(row.id) ?? [];
  entry.crl_url = `${ctx.publicBaseUrl}/crl/${row.id}.crl`;
  entry.ca_certificate_url = `${ctx.publicBaseUrl}/ca/${row.id}.crt`;
  entry.crl_next_update = row.crl_next_update?.toISOString() ?? null;
  ctx.caEntries.set(row.id, entry);
  return entry;
}

/** Ids of a CA and every CA below it. */
export function caSubtree(caId: number, caRows: ReadonlyMap<number, CertificateAuthorityRow>): number[] {
  const result = [caId];
  for (let i = 0; i < result.length; i++) {
    for (const ca of caRows.values()) if (ca.signedby_id === result[i] && !result.includes(ca.id)) result.push(ca.id);
  }
  return result;
}

/** TrueNAS's `get_ca_chain` filtered to revoked members: certificates and CAs in the subtree, and the CA itself. */
function revokedBelow(caId: number, ctx: EntryContext): Array<Record<string, unknown>> {
  const subtree = new Set(caSubtree(caId, ctx.caRows));
  return ctx.revokedMembers
    .filter((m) => (m.cert_type === 'CA' ? subtree.has(m.id) : m.signedby_id !== null && subtree.has(m.signedby_id)))
    .map((m) => revokedRow(m, ctx));
}

/**
 * A revoked member as TrueNAS lists it: its stored row (keys shown as in entries, the signing CA as
 * its row without further nesting), with certmid's summary fields.
 */
function revokedRow({ row, ...summary }: RevokedMember, ctx: EntryContext): Record<string, unknown> {
  const parent = summary.signedby_id === null ? undefined : ctx.caRows.get(summary.signedby_id);
  return {
    ...storedRow(row, ctx),
    signedby: parent ? storedRow(parent, ctx) : null,
    ...summary,
    serial: serialValue(summary.serial),
  };
}

/**
 * Whether the caller may read this row's key, by the row's own kind: a CA nested in a
 * certificate's signedby/issuer keeps its key hidden from a caller who may only read certificate keys.
 */
const mayReadKeyOf = (row: CertificateRowBase, ctx: EntryContext): boolean => (isCaType(row.type) ? ctx.keys.authorities : ctx.keys.certificates);

/**
 * The sealed texts the entry of a certificate row shows opened, for them to be opened with those of
 * the other rows being built: its key if the caller may read it (as `privateKeyShown` tells; CAs'
 * keys are opened once per reply there), and its ACME DNS mapping.
 */
export function sealedShown(row: CertificateRow, ctx: EntryContext): string[] {
  const sealed: string[] = [];
  if (row.privatekey !== null && !isCaType(row.type) && mayReadKeyOf(row, ctx)) sealed.push(row.privatekey);
  if (row.acme_id !== null && row.domains_authenticators) sealed.push(row.domains_authenticators);
  return sealed;
}

/** A sealed secret an entry shows: as opened with its rows', else opened here (which throws for one that does not open, as it always did). */
const openSecret = (sealed: string, ctx: EntryContext): string => ctx.opened.get(sealed) ?? ctx.decrypt(sealed);

/** The row's private key as this caller may see it. */
function privateKeyShown(row: CertificateRowBase, ctx: EntryContext): string | null {
  if (row.privatekey === null) return null;
  if (!mayReadKeyOf(row, ctx)) return REDACTED;
  if (!isCaType(row.type)) return openSecret(row.privatekey, ctx);
  let key = ctx.caKeys.get(row.privatekey);
  if (key === undefined) ctx.caKeys.set(row.privatekey, (key = ctx.decrypt(row.privatekey)));
  return key;
}

/** The fields of a stored row TrueNAS's raw rows carry. */
function storedRow(row: CertificateRowBase, ctx: EntryContext): Record<string, unknown> {
  return {
    id: row.id,
    type: row.type,
    name: row.name,
    certificate: row.certificate,
    privatekey: privateKeyShown(row, ctx),
    CSR: row.CSR,
    revoked_date: row.revoked_date,
    revoked_reason: row.revoked_reason,
    serial: serialValue(row.serial),
    add_to_trusted_store: row.add_to_trusted_store,
  };
}
