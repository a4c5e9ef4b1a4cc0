import path from 'node:path';

/**
 * Where an entry's files live, as TrueNAS lays out /etc/certificates: certificates at the top,
 * certificate authorities in `CA/`, each file named after the entry.
 */
export const CA_SUBDIRECTORY = 'CA';
/** The concatenated PEM of every trusted entry, beside the entries' files. */
export const TRUSTED_BUNDLE_NAME = 'trusted-store.pem';

/**
 * Names that are safe as one path component of our own: what certificate and CA names may be
 * (checkName), so no `/`, `..`, leading dot (our manifests and temporary files start with one) or NUL.
 */
const SAFE_NAME = /^[A-Za-z0-9_-]+$/;

export function isSafeFileName(name: string): boolean {
  return SAFE_NAME.test(name);
}

export interface EntryPaths {
  root: string;
  certificate: string;
  privatekey: string;
  csr: string;
  /** CAs only. */
  crl: string | null;
}

/** The paths an entry's fields name (`root_path`, `certificate_path`, …), whether or not it is written. */
export function entryPaths(certificatesDir: string, name: string, isCa: boolean): EntryPaths {
  const root = isCa ? path.join(certificatesDir, CA_SUBDIRECTORY) : certificatesDir;
  return {
    root,
    certificate: path.join(root, `${name}.crt`),
    privatekey: path.join(root, `${name}.key`),
    csr: path.join(root, `${name}.csr`),
    crl: isCa ? path.join(root, `${name}.crl`) : null,
  };
}

/** TrueNAS's name of an entry's copy in the trusted store (`/var/local/ca-certificates`). */
export function trustedStoreFileName(name: string, isCa: boolean): string {
  return `${isCa ? 'ca' : 'cert'}_${name}.crt`;
}
