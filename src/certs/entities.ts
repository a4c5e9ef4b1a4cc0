import { EntitySchema } from 'typeorm';
import { jsonColumn, timestampColumn } from '../db/columns.js';

/** TrueNAS's type bits (`cert_type`), kept as they are so that `type` reads the same on the wire. */
export const CA_TYPE_EXISTING = 0x01;
export const CA_TYPE_INTERNAL = 0x02;
export const CA_TYPE_INTERMEDIATE = 0x04;
export const CERT_TYPE_EXISTING = 0x08;
export const CERT_TYPE_INTERNAL = 0x10;
export const CERT_TYPE_CSR = 0x20;

/**
 * What parsing a certificate or CSR yields, stored at write time so that queries never parse.
 * Dates are ms since the epoch; the entry builder formats them.
 */
export interface StoredDetails {
  parsed: boolean;
  country: string | null;
  state: string | null;
  city: string | null;
  organization: string | null;
  organizational_unit: string | null;
  common: string | null;
  email: string | null;
  san: string[];
  DN: string | null;
  subject_name_hash: number | null;
  extensions: Record<string, string>;
  digest_algorithm: string | null;
  lifetime: number | null;
  not_before: number | null;
  not_after: number | null;
  serial: string | null;
  chain: boolean;
  fingerprint: string | null;
  fingerprint_sha256: string | null;
  /**
   * The certificate's issuer as entries show it (`issuer_dn`); null for CSRs and unreadable
   * certificates. Absent from rows written before it was stored, and by older daemons sharing the database.
   */
  issuer_dn?: string | null;
  key_type: string | null;
  key_length: number | null;
}

/** Columns shared by certificates and certificate authorities. */
export interface CertificateRowBase {
  id: number;
  type: number;
  name: string;
  certificate: string | null;
  /** Sealed with the master key. */
  privatekey: string | null;
  CSR: string | null;
  signedby_id: number | null;
  revoked_date: Date | null;
  revoked_reason: string | null;
  add_to_trusted_store: boolean;
  details: StoredDetails;
  /** Serial as decimal text and expiry, copied out of `details` so SQL can filter and sort on them. */
  serial: string | null;
  not_after: Date | null;
  created_at: Date;
}

export interface CertificateRow extends CertificateRowBase {
  acme_uri: string | null;
  /** Sealed JSON `{domain: authenticator id}`. */
  domains_authenticators: string | null;
  renew_days: number | null;
  acme_id: number | null;
  /**
   * Renew with a new key of the same kind (and, for ACME, a new CSR) instead of the current one:
   * off by default for ACME certificates (TrueNAS reuses the CSR), on for those signed here.
   */
  rotate_key: boolean;
  /** A certificate signed by a CA on this system renews itself `renew_days` before expiry. */
  auto_renew: boolean;
  /** The last renewal failure, shown on the entry until a renewal succeeds. */
  renewal_error: string | null;
  renewal_attempts: number;
  /** Backoff after failures: no renewal attempt before this time. */
  renewal_next_attempt: Date | null;
}

export interface CertificateAuthorityRow extends CertificateRowBase {
  /** The serial the next certificate this CA signs gets; taken and advanced in one UPDATE. */
  next_serial: number;
  crl_number: number;
  crl_pem: string | null;
  crl_updated_at: Date | null;
  crl_next_update: Date | null;
}

const baseColumns = {
  id: { type: 'integer', primary: true, generated: 'increment' },
  type: { type: 'integer' },
  name: { type: 'varchar', length: 120, unique: true },
  certificate: { type: 'text', nullable: true },
  privatekey: { type: 'text', nullable: true },
  CSR: { type: 'text', nullable: true, name: 'csr' },
  signedby_id: { type: 'integer', nullable: true },
  revoked_date: timestampColumn(true),
  revoked_reason: { type: 'varchar', length: 32, nullable: true },
  add_to_trusted_store: { type: 'boolean', default: false },
  details: jsonColumn(),
  serial: { type: 'varchar', length: 64, nullable: true },
  not_after: timestampColumn(true),
  created_at: timestampColumn(),
} as const;

export const CertificateEntity = new EntitySchema<CertificateRow>({
  name: 'certificate',
  tableName: 'certificate',
  columns: {
    ...baseColumns,
    acme_uri: { type: 'varchar', length: 200, nullable: true },
    domains_authenticators: { type: 'text', nullable: true },
    renew_days: { type: 'integer', nullable: true },
    acme_id: { type: 'integer', nullable: true },
    rotate_key: { type: 'boolean', default: false },
    auto_renew: { type: 'boolean', default: false },
    renewal_error: { type: 'text', nullable: true },
    renewal_attempts: { type: 'integer', default: 0 },
    renewal_next_attempt: timestampColumn(true),
  },
});

export const CertificateAuthorityEntity = new EntitySchema<CertificateAuthorityRow>({
  name: 'certificate_authority',
  tableName: 'certificate_authority',
  columns: {
    ...baseColumns,
    next_serial: { type: 'bigint', default: 1, transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } },
    crl_number: { type: 'integer', default: 0 },
    crl_pem: { type: 'text', nullable: true },
    crl_updated_at: timestampColumn(true),
    crl_next_update: timestampColumn(true),
  },
});
