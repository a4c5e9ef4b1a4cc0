/** How entries read on the page: dates, expiry, subjects, PEM previews. */

/** A certificate or CA entry as `certificate.query` / `certificateauthority.query` return it. */
export interface CertEntry {
  id: number;
  name: string;
  certificate: string | null;
  privatekey: string | null;
  CSR: string | null;
  issuer: string | { name: string } | null;
  /** The issuer as the certificate names it (`/C=US/O=Example/CN=Example CA`), null for CSRs. */
  issuer_dn?: string | null;
  common: string | null;
  san: string[] | null;
  DN: string | null;
  not_before?: string | null;
  not_after?: string | null;
  days_left?: number | null;
  not_yet_valid?: boolean;
  expired?: boolean | null;
  revoked: boolean;
  revoked_date?: { $date: number } | Date | null;
  /** An RFC 5280 reason name (KEY_COMPROMISE…), or null when none was given. */
  revoked_reason?: string | null;
  can_be_revoked: boolean;
  cert_type_CSR: boolean;
  key_type: string | null;
  key_length: number | null;
  digest_algorithm?: string | null;
  fingerprint_sha256?: string | null;
  serial?: number | string | null;
  lifetime?: number | null;
  extensions?: Record<string, string> | null;
  add_to_trusted_store: boolean;
  acme?: unknown;
  /** An ACME certificate's names, each with the id of the DNS authenticator that proves it. */
  domains_authenticators?: Record<string, number> | null;
  renew_days?: number;
  signed_certificates?: number;
  CA_type_internal?: boolean;
  CA_type_intermediate?: boolean;
  CA_type_existing?: boolean;
  chain_list?: string[];
  /** What presents or needs the certificate: the daemon's own HTTPS ("UI Service"), deploy targets; `serial` the one it holds, when it tells. */
  used_by?: Array<{ type: string; name: string; id?: number; serial?: string | null }>;
  /** Certificates signed by a CA on this system: automatic renewal (certmid addition). */
  auto_renew?: boolean;
  rotate_key?: boolean;
  renewal_error?: string | null;
  renewal_attempts?: number;
  renewal_next_attempt?: string | null;
  /** The versions renewals replaced, newest first. */
  previous_versions?: PreviousVersion[];
  /** A CA's certificates and intermediate CAs, by name. */
  signed_entries?: Array<{ id: number; name: string; type: 'CERTIFICATE' | 'CA' }>;
}

export interface PreviousVersion {
  serial: number | string | null;
  from: string | null;
  until: string | null;
  replaced_at: string;
  superseded: boolean;
  superseded_at: string | null;
}

/** "Renews 10 days before expiry" ("…, keeping its key"), "Not automatic", or null when it never renews by itself. */
export function renewalPolicy(entry: CertEntry): string | null {
  const automatic = entry.auto_renew || Boolean(entry.acme);
  if (!automatic) return entry.auto_renew === false ? 'Not automatic' : null;
  return `Renews ${plural(entry.renew_days ?? 10, 'day')} before expiry${entry.auto_renew && entry.rotate_key === false ? ', keeping its key' : ''}`;
}

/** "Renews 10 days before expiry", the last failure and when it is tried again, or null when it does not renew by itself. */
export function renewalText(entry: CertEntry): string | null {
  const when = renewalPolicy(entry);
  if (!when || !entry.renewal_error) return when;
  const retry = entry.renewal_next_attempt ? `; tried again after ${dateTime(entry.renewal_next_attempt)}` : '';
  return `${when}. Last attempt failed: ${entry.renewal_error}${retry}`;
}

/** HH:MM today, else YYYY-MM-DD HH:MM: when the next try is, read at a glance. */
export function shortTime(value: string | number | Date): string {
  const text = dateTime(value);
  return text.slice(0, 10) === dateTime(Date.now()).slice(0, 10) ? text.slice(11) : text;
}

/**
 * The row's short renewal status for a certificate that renews by itself (ACME, or opted in):
 * "Renews in 12 days", "Renewal due", or "Renewal failed 2×, next try 14:05" with the error for a
 * tooltip; null for the others.
 */
export function renewalStatus(entry: CertEntry): { text: string; tone: Tone; error: string | null } | null {
  if (!(entry.auto_renew || entry.acme) || entry.revoked || entry.cert_type_CSR) return null;
  if (entry.renewal_error) {
    const attempts = entry.renewal_attempts ?? 1;
    const next = entry.renewal_next_attempt ? `, next try ${shortTime(entry.renewal_next_attempt)}` : '';
    return { text: `Renewal failed ${attempts}×${next}`, tone: 'bad', error: entry.renewal_error };
  }
  if (entry.days_left === null || entry.days_left === undefined) return null;
  const due = entry.days_left - (entry.renew_days ?? 10);
  if (due <= 0) return { text: 'Renewal due', tone: 'warn', error: null };
  return { text: `Renews in ${plural(due, 'day')}`, tone: 'muted', error: null };
}

/** Hex serial to compare with a use's: entries give serials as decimal numbers or text. */
export function hexSerial(serial: number | string | null | undefined): string | null {
  if (serial === null || serial === undefined) return null;
  const hex = BigInt(serial).toString(16).toUpperCase();
  return hex.length % 2 ? `0${hex}` : hex;
}

/** "UI Service, …", or '' when nothing uses it. */
export function usedByText(entry: CertEntry): string {
  return (entry.used_by ?? []).map((use) => use.name).join(', ');
}

/** YYYY-MM-DD HH:MM in the browser's time zone. */
export function dateTime(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '—';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function day(value: string | number | Date | null | undefined): string {
  return dateTime(value).slice(0, 10);
}

type Tone = 'ok' | 'warn' | 'bad' | 'muted';

/** Renewal is due within this many days: shown in amber. */
export const SOON_DAYS = 30;
const DAY_MS = 86_400_000;

const REASON_ACRONYMS = new Set(['CA', 'AA']);

/** KEY_COMPROMISE → "Key Compromise", CA_COMPROMISE → "CA Compromise", as openssl names them. */
export function reasonLabel(reason: string): string {
  return reason
    .split('_')
    .map((word) => (REASON_ACRONYMS.has(word) ? word : word === 'OF' ? 'of' : word.charAt(0) + word.slice(1).toLowerCase()))
    .join(' ');
}

/** "Revoked", or "Revoked (key compromise)" when a reason other than unspecified was given. */
export function revokedText(entry: Pick<CertEntry, 'revoked_reason'>): string {
  const reason = entry.revoked_reason;
  if (!reason || reason === 'UNSPECIFIED') return 'Revoked';
  const words = reasonLabel(reason).split(' ').map((word) => (REASON_ACRONYMS.has(word) ? word : word.toLowerCase()));
  return `Revoked (${words.join(' ')})`;
}

/** "396 days left", "Expires today", "Expired 3 days ago", "Revoked (key compromise)", "Not yet valid", with a tone. */
export function expiry(entry: CertEntry): { text: string; tone: Tone } {
  if (entry.revoked) return { text: revokedText(entry), tone: 'bad' };
  if (entry.not_yet_valid) return { text: 'Not yet valid', tone: 'warn' };
  const days = entry.days_left;
  if (days === null || days === undefined) return { text: 'Unknown', tone: 'muted' };
  if (days < 0 || entry.expired) {
    // Whole days since the end (days_left rounds down, so it would say one more).
    const ago = entry.not_after ? Math.floor((Date.now() - Date.parse(entry.not_after)) / DAY_MS) : -days;
    return { text: ago < 1 ? 'Expired today' : `Expired ${plural(ago, 'day')} ago`, tone: 'bad' };
  }
  if (days === 0) return { text: 'Expires today', tone: 'bad' };
  return { text: `${plural(days, 'day')} left`, tone: days <= SOON_DAYS ? 'warn' : 'ok' };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The CA that signed it here, else the common name of the issuer the certificate names (TrueNAS says only "external"). */
export function issuerName(entry: CertEntry): string {
  const { issuer } = entry;
  if (issuer && typeof issuer === 'object') return issuer.name;
  if (issuer === 'external' && entry.issuer_dn) return dnCommonName(entry.issuer_dn);
  return issuer ?? '—';
}

/** `/C=US/O=Example/CN=Example CA` → "Example CA" (the whole DN when it has no CN). */
export function dnCommonName(dn: string): string {
  return /\/CN=([^/]+)$/.exec(dn)?.[1] ?? (/\/CN=([^/]+)/.exec(dn)?.[1] || dn);
}

/** The DN without the `/subjectAltName=…` TrueNAS appends to it (the names have their own line). */
export function plainDn(dn: string | null | undefined): string | null {
  return dn ? dn.replace(/\/subjectAltName=.*$/s, '') : null;
}

/** The serial as openssl prints it (hex pairs joined by colons), the decimal beside it. */
export function serialText(serial: number | string | null | undefined): string | null {
  const hex = hexSerial(serial);
  return hex === null ? null : `${hex.match(/../g)!.join(':')} (${BigInt(serial!).toString()})`;
}

/** The names the View dialog gives extensions (TrueNAS keys them by OpenSSL short name). */
const EXTENSION_LABELS: Record<string, string> = {
  SubjectKeyIdentifier: 'Subject Key Identifier',
  AuthorityKeyIdentifier: 'Authority Key Identifier',
  KeyUsage: 'Key Usage',
  ExtendedKeyUsage: 'Extended Key Usage',
  BasicConstraints: 'Basic Constraints',
  CrlDistributionPoints: 'CRL Distribution Points',
  FreshestCRL: 'Freshest CRL (Delta CRL Distribution Points)',
  AuthorityInfoAccess: 'Authority Information Access',
  SubjectInfoAccess: 'Subject Information Access',
  CertificatePolicies: 'Certificate Policies',
  NameConstraints: 'Name Constraints',
  PolicyConstraints: 'Policy Constraints',
  PolicyMappings: 'Policy Mappings',
  InhibitAnyPolicy: 'Inhibit Any Policy',
  IssuerAltName: 'Issuer Alternative Name',
  SubjectAltName: 'Subject Alternative Name',
  Tlsfeature: 'TLS Feature',
  QcStatements: 'Qualified Certificate Statements',
  NoCheck: 'OCSP No Check',
  NsCertType: 'Netscape Certificate Type',
  NsComment: 'Netscape Comment',
  PrivateKeyUsagePeriod: 'Private Key Usage Period',
  SubjectDirectoryAttributes: 'Subject Directory Attributes',
  MsCertificateTemplateName: 'Microsoft Certificate Template Name',
};

export function extensionLabel(name: string): string {
  return EXTENSION_LABELS[name] ?? name.replace(/([a-z])([A-Z])/g, '$1 $2');
}

/** SAN entries without their "DNS:" prefix (other kinds keep theirs). */
export function sanText(san: string[] | null | undefined): string {
  return (san ?? []).map((name) => name.replace(/^DNS:/, '')).join(', ');
}

export function keyText(entry: CertEntry): string {
  if (!entry.key_type) return '—';
  return entry.key_length ? `${entry.key_type} ${entry.key_length}` : entry.key_type;
}

/** TrueNAS's preview of a PEM: the first and last six characters of its body. */
export function pemPreview(pem: string): string {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return body.length <= 12 ? body : `${body.slice(0, 6)}......${body.slice(-6)}`;
}

/** `tsig_key_name` → "TSIG key name". */
export function humanize(name: string): string {
  const words = name.split('_').map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word));
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const ACRONYMS = new Set(['api', 'id', 'dns', 'tsig', 'url', 'uri', 'ttl', 'aws', 'ovh', 'ip', 'tls', 'ssh', 'hmac', 'pkcs12']);

/** What "Add To Trusted Store" does, exactly (README "Files and the trusted store"). */
export const TRUSTED_STORE_HINT =
  'Writes its chain into the trusted-store directory (TRUSTED_STORE_DIR) and the CA bundle file (trusted-store.pem), then runs the configured update command, if one is set. Programs that read that store or bundle then trust it.';
