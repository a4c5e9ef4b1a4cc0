/**
 * What `certificate.import_preview` takes and answers, without dependencies, so that the page
 * (web/import-preview.ts) reads the same shape the server builds (src/certs/import-preview.ts).
 */

/** A type, not an interface, so that it passes where a plain record of fields is expected. */
export type ImportPreviewInput = {
  certificate?: string | undefined;
  privatekey?: string | undefined;
  passphrase?: string | undefined;
  pkcs12?: string | undefined;
};

export interface PreviewedCertificate {
  subject: string;
  issuer: string;
  self_signed: boolean;
  is_ca: boolean;
  from: string;
  until: string;
  not_before: Date;
  not_after: Date;
  expired: boolean;
  san: string[];
  /** Decimal, as entries show it, and hex as openssl prints it. */
  serial: string;
  serial_hex: string;
  key_type: string;
  key_length: number;
  fingerprint_sha256: string;
}

export interface ImportPreview {
  /** What the input was: PEM, base64 DER, or a PKCS#12 bundle. */
  format: 'PEM' | 'DER' | 'PKCS12';
  /** The leaf first, then the chain in the order given. */
  certificates: PreviewedCertificate[];
  private_key: null | {
    key_type: string;
    key_length: number;
    /** The key belongs to the leaf certificate. */
    matches_certificate: boolean;
    /** The key (or the PKCS#12 bundle) was encrypted, and the passphrase opened it. */
    passphrase_opened: boolean;
  };
}
