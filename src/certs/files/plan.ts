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

/**
 * What TrueNAS's generate_ssl_certs writes, from the rows: for every entry its chain
 * (`<name>.crt`), key (`<name>.key`, owner only) and CSR (`<name>.csr`), CAs in `CA/` with their
 * CRL (`<name>.crl`); every trusted entry's chain as `{ca|cert}_<name>.crt` in the trusted store,
 * and all of them in one bundle. Revoked entries and CSRs are never trusted.
 */
export function planFiles(certificates: readonly CertificateRow[], authorities: readonly CertificateAuthorityRow[], decrypt: (sealed: string) => string): FilePlan {
  const plan: FilePlan = { certificates: new Map(), trusted: new Map(), skipped: [] };
  const caRows = new Map(authorities.map((row) => [row.id, row]));
  const bundle = new Set<string>();
  const entries: Array<[CertificateRowBase, boolean]> = [...authorities.map((row): [CertificateRowBase, boolean] => [row, true]), ...certificates.map((row): [CertificateRowBase, boolean] => [row, false])];
  for (const [row, isCa] of entries) {
    if (!isSafeFileName(row.name)) {
      plan.skipped.push({ name: row.name, cert_type: isCa ? 'CA' : 'CERTIFICATE', reason: 'The name cannot be used as a file name' });
      continue;
    }
    const prefix = isCa ? `${CA_SUBDIRECTORY}/` : '';
    const chain = chainPems(row, { caRows }).map((pem) => pem.trim() + '\n');
    if (chain.length > 0) plan.certificates.set(`${prefix}${row.name}.crt`, publicFile(chain.join('')));
    if (row.privatekey !== null) plan.certificates.set(`${prefix}${row.name}.key`, { content: Buffer.from(decrypt(row.privatekey)), mode: PRIVATE_MODE });
    if (!isCa && row.CSR) plan.certificates.set(`${row.name}.csr`, publicFile(row.CSR.trim() + '\n'));
    const crl = isCa ? (row as CertificateAuthorityRow).crl_pem : null;
    if (crl) plan.certificates.set(`${prefix}${row.name}.crl`, publicFile(crl.trim() + '\n'));
    if (isTrusted(row, chain)) {
      plan.trusted.set(trustedStoreFileName(row.name, isCa), publicFile(chain.join('')));
      for (const pem of chain) bundle.add(pem);
    }
  }
  plan.certificates.set(TRUSTED_BUNDLE_NAME, publicFile([...bundle].join('')));
  return plan;
}

function isTrusted(row: CertificateRowBase, chain: readonly string[]): boolean {
  return row.add_to_trusted_store && row.revoked_date === null && (row.type & CERT_TYPE_CSR) === 0 && chain.length > 0;
}

function publicFile(text: string): DesiredFile {
  return { content: Buffer.from(text), mode: PUBLIC_MODE };
}
