import { CERT_TYPE_CSR, type CertificateAuthorityRow, type CertificateRow, type CertificateRowBase } from '../entities.js';
import { chainPems } from '../entry.js';
import { CA_SUBDIRECTORY, isSafeFileName, TRUSTED_BUNDLE_NAME, trustedStoreFileName } from './layout.js';
import type { DesiredFile, ManagedDirectory } from './managed-directory.js';

const PUBLIC_MODE = 0o644;
/** Owner only, as the daemon's own secrets are (TrueNAS: 0400, which also stops the owner rewriting it in place). */
const PRIVATE_MODE = 0o600;

/** An entry whose name cannot be a file name, so none of its files are written. */
export interface SkippedEntry {
  name: string;
  cert_type: 'CERTIFICATE' | 'CA';
  reason: string;
}

/** Every file the database says should exist, by directory. */
export interface FilePlan {
  /** Relative to CERTIFICATES_DIR. */
  certificates: Map<string, DesiredFile>;
  /** Relative to TRUSTED_STORE_DIR. */
  trusted: Map<string, DesiredFile>;
  skipped: SkippedEntry[];
}

const ENTRY_FILE = /^[A-Za-z0-9_-]+\.(crt|key|csr)$/;
const CA_FILE = new RegExp(`^${CA_SUBDIRECTORY}/[A-Za-z0-9_-]+\\.(crt|key|crl)$`);
const TRUSTED_FILE = /^(ca|cert)_[A-Za-z0-9_-]+\.crt$/;

export function certificatesDirectory(root: string): ManagedDirectory {
  return { root, subdirectories: [CA_SUBDIRECTORY], owns: (relative) => ENTRY_FILE.test(relative) || CA_FILE.test(relative) || relative === TRUSTED_BUNDLE_NAME };
}

export function trustedStoreDirectory(root: string): ManagedDirectory {
  return { root, subdirectories: [], owns: (relative) => TRUSTED_FILE.test(relative) };
}

/** One entry's part of the plan: its files in CERTIFICATES_DIR and, when trusted, its chain for the trusted store. */
export interface EntryFiles {
  files: Map<string, DesiredFile>;
  /** `{ca|cert}_<name>.crt` and the chain it holds; null when the entry is not trusted. */
  trusted: { file: string; chain: string[] } | null;
  /** Set when the name cannot be a file name; then nothing else is. */
  skipped: SkippedEntry | null;
}

/**
 * What TrueNAS's generate_ssl_certs writes for one entry: its chain (`<name>.crt`), key
 * (`<name>.key`, owner only) and CSR (`<name>.csr`), CAs in `CA/` with their CRL (`<name>.crl`);
 * a trusted entry's chain also as `{ca|cert}_<name>.crt` in the trusted store. Revoked entries and
 * CSRs are never trusted.
 */
export function planEntry(row: CertificateRowBase, isCa: boolean, caRows: ReadonlyMap<number, CertificateAuthorityRow>, decrypt: (sealed: string) => string): EntryFiles {
  const planned: EntryFiles = { files: new Map(), trusted: null, skipped: null };
  if (!isSafeFileName(row.name)) {
    planned.skipped = { name: row.name, cert_type: isCa ? 'CA' : 'CERTIFICATE', reason: 'The name cannot be used as a file name' };
    return planned;
  }
  const prefix = isCa ? `${CA_SUBDIRECTORY}/` : '';
  const chain = chainPems(row, { caRows }).map((pem) => pem.trim() + '\n');
  if (chain.length > 0) planned.files.set(`${prefix}${row.name}.crt`, publicFile(chain.join('')));
  if (row.privatekey !== null) planned.files.set(`${prefix}${row.name}.key`, { content: Buffer.from(decrypt(row.privatekey)), mode: PRIVATE_MODE });
  if (!isCa && row.CSR) planned.files.set(`${row.name}.csr`, publicFile(row.CSR.trim() + '\n'));
  const crl = isCa ? (row as CertificateAuthorityRow).crl_pem : null;
  if (crl) planned.files.set(`${prefix}${row.name}.crl`, publicFile(crl.trim() + '\n'));
  if (isTrusted(row, chain)) planned.trusted = { file: trustedStoreFileName(row.name, isCa), chain };
  return planned;
}

/** Every file the database says should exist: each entry's, and one bundle of every trusted chain. */
export function planFiles(certificates: readonly CertificateRow[], authorities: readonly CertificateAuthorityRow[], decrypt: (sealed: string) => string): FilePlan {
  const plan: FilePlan = { certificates: new Map(), trusted: new Map(), skipped: [] };
  const caRows = new Map(authorities.map((row) => [row.id, row]));
  const chains: string[][] = [];
  const entries: Array<[CertificateRowBase, boolean]> = [...authorities.map((row): [CertificateRowBase, boolean] => [row, true]), ...certificates.map((row): [CertificateRowBase, boolean] => [row, false])];
  for (const [row, isCa] of entries) {
    const planned = planEntry(row, isCa, caRows, decrypt);
    if (planned.skipped) plan.skipped.push(planned.skipped);
    for (const [relative, file] of planned.files) plan.certificates.set(relative, file);
    if (planned.trusted) {
      plan.trusted.set(planned.trusted.file, publicFile(planned.trusted.chain.join('')));
      chains.push(planned.trusted.chain);
    }
  }
  plan.certificates.set(TRUSTED_BUNDLE_NAME, bundleFile(chains));
  return plan;
}

/** All trusted chains in one file, each certificate once, in the order first met. */
export function bundleFile(chains: Iterable<readonly string[]>): DesiredFile {
  const bundle = new Set<string>();
  for (const chain of chains) for (const pem of chain) bundle.add(pem);
  return publicFile([...bundle].join(''));
}

export function publicFile(text: string): DesiredFile {
  return { content: Buffer.from(text), mode: PUBLIC_MODE };
}

function isTrusted(row: CertificateRowBase, chain: readonly string[]): boolean {
  return row.add_to_trusted_store && row.revoked_date === null && (row.type & CERT_TYPE_CSR) === 0 && chain.length > 0;
}
