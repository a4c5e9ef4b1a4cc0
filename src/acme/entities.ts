import { EntitySchema } from 'typeorm';
import { timestampColumn } from '../db/columns.js';

/** How the issuer waits for a challenge TXT record before asking the CA to validate it. */
export type PropagationMode = 'check' | 'delay' | 'off';

export interface DnsAuthenticatorRow {
  id: number;
  name: string;
  /** The provider key (`attributes.authenticator` on the wire). */
  authenticator: string;
  /** Sealed JSON of the provider attributes (without `authenticator`). */
  attributes: string;
  /** check: poll the zone's authoritative servers until the record shows; delay: sleep; off: neither. */
  propagation_mode: PropagationMode;
  /** check: give up after this many seconds; delay: sleep this long. */
  propagation_timeout: number;
  propagation_delay: number;
  created_at: Date;
}

export const DnsAuthenticatorEntity = new EntitySchema<DnsAuthenticatorRow>({
  name: 'acme_dns_authenticator',
  tableName: 'acme_dns_authenticator',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 64, unique: true },
    authenticator: { type: 'varchar', length: 64 },
    attributes: { type: 'text' },
    propagation_mode: { type: 'varchar', length: 16, default: 'check' },
    propagation_timeout: { type: 'integer', default: 300 },
    propagation_delay: { type: 'integer', default: 0 },
    created_at: timestampColumn(),
  },
});

export interface AcmeRegistrationRow {
  id: number;
  /** The account URL. */
  uri: string;
  /** The directory URL, with a trailing "/" as TrueNAS stores it; one account per directory. */
  directory: string;
  /** The CA's terms-of-service URL, or "". */
  tos: string;
  new_account_uri: string;
  new_nonce_uri: string;
  new_order_uri: string;
  revoke_cert_uri: string;
  /** RFC 9773 renewalInfo endpoint, when the CA offers one. */
  renewal_info_uri: string | null;
  status: string;
  /** Sealed PEM of the account private key. */
  account_key: string;
  /** External Account Binding key id used at registration, if any (the HMAC key is not kept). */
  eab_kid: string | null;
  /** PEM CA certificates the server's TLS must chain to (a private ACME CA); null: Node's public roots. */
  ca_bundle: string | null;
  created_at: Date;
}

export const AcmeRegistrationEntity = new EntitySchema<AcmeRegistrationRow>({
  name: 'acme_registration',
  tableName: 'acme_registration',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    uri: { type: 'varchar', length: 500 },
    directory: { type: 'varchar', length: 500, unique: true },
    tos: { type: 'varchar', length: 500, default: '' },
    new_account_uri: { type: 'varchar', length: 500 },
    new_nonce_uri: { type: 'varchar', length: 500 },
    new_order_uri: { type: 'varchar', length: 500 },
    revoke_cert_uri: { type: 'varchar', length: 500 },
    renewal_info_uri: { type: 'varchar', length: 500, nullable: true },
    status: { type: 'varchar', length: 32 },
    account_key: { type: 'text' },
    eab_kid: { type: 'varchar', length: 256, nullable: true },
    ca_bundle: { type: 'text', nullable: true },
    created_at: timestampColumn(),
  },
});
