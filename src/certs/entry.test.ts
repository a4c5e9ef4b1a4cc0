import { describe, expect, it } from 'vitest';
import { SecretBox } from '../secrets.js';
import { CA_TYPE_INTERNAL, CERT_TYPE_CSR, CERT_TYPE_INTERNAL, type CertificateAuthorityRow, type CertificateRow, type CertificateRowBase, type StoredDetails } from './entities.js';
import { caEntry, certificateEntry, type EntryContext } from './entry.js';

const box = SecretBox.fromKey(Buffer.alloc(32, 7));

const details: StoredDetails = {
  parsed: true,
  country: 'US',
  state: 'CA',
  city: 'Here',
  organization: 'Example',
  organizational_unit: null,
  common: 'leaf.example',
  email: null,
  san: ['DNS:leaf.example'],
  DN: '/C=US/CN=leaf.example',
  subject_name_hash: 1,
  extensions: { KeyUsage: 'Digital Signature' },
  digest_algorithm: 'SHA256',
  lifetime: 397,
  not_before: Date.UTC(2026, 0, 1),
  not_after: Date.UTC(2027, 0, 1),
  serial: '5',
  chain: false,
  fingerprint: 'AA:BB',
  fingerprint_sha256: null,
  key_type: 'EC',
  key_length: 256,
};

/** The columns certificates and CAs share, as a root CA has them. */
const common: CertificateRowBase = {
  id: 1,
  type: CA_TYPE_INTERNAL,
  name: 'root',
  certificate: null,
  privatekey: null,
  CSR: null,
  signedby_id: null,
  revoked_date: null,
  revoked_reason: null,
  add_to_trusted_store: false,
  details,
  serial: '1',
  not_after: null,
  created_at: new Date(0),
};

const ca: CertificateAuthorityRow = {
  ...common,
  next_serial: 2,
  crl_number: 1,
  crl_pem: null,
  crl_updated_at: null,
  crl_next_update: null,
};

const certificate: CertificateRow = {
  ...common,
  id: 2,
  type: CERT_TYPE_INTERNAL,
  name: 'leaf',
  signedby_id: 1,
  acme_uri: null,
  domains_authenticators: null,
  renew_days: 10,
  acme_id: null,
  rotate_key: true,
  auto_renew: true,
  renewal_error: 'the CA was away',
  renewal_attempts: 2,
  renewal_next_attempt: new Date(Date.UTC(2026, 5, 1)),
};

function context(): EntryContext {
  return {
    now: new Date(Date.UTC(2026, 6, 1)),
    keys: { certificates: false, authorities: false },
    decrypt: (sealed) => box.decrypt(sealed),
    decryptMany: (sealed) => box.decryptMany(sealed),
    opened: new Map(),
    caKeys: new Map(),
    certificatesDir: '/var/certificates',
    publicBaseUrl: 'http://127.0.0.1:8470',
    caRows: new Map([[1, ca]]),
    signedCertificateCounts: new Map([[1, 1]]),
    loadSignedCertificateCounts: () => Promise.resolve(new Map()),
    revokedMembers: [],
    caEntries: new Map(),
    acmeRegistrations: new Map([[3, { id: 3, uri: 'https://acme.example/account/3' }]]),
    loadAcmeRegistrations: () => Promise.resolve(new Map()),
    uses: new Map(),
    loadUses: () => Promise.resolve(new Map()),
    previousVersions: new Map(),
    loadPreviousVersions: () => Promise.resolve(new Map()),
    signedBy: new Map(),
  };
}

/** TrueNAS's CERT_ENTRY keys before and after the ACME ones, with certmid's additions. */
const OPENING = ['id', 'type', 'name', 'certificate', 'privatekey', 'CSR'];
const RENEWAL_STATE = ['rotate_key', 'renewal_error', 'renewal_attempts', 'renewal_next_attempt'];
const ACME = ['acme_uri', 'domains_authenticators', 'renew_days', ...RENEWAL_STATE];
const PATHS = ['certificate_path', 'privatekey_path', 'csr_path', 'cert_type', 'revoked'];
const SUBJECT = ['chain_list', 'country', 'state', 'city', 'organization', 'organizational_unit', 'san', 'email', 'DN', 'subject_name_hash'];
const CLOSING = [
  ...['CA_type_existing', 'CA_type_internal', 'CA_type_intermediate', 'cert_type_existing', 'cert_type_internal', 'cert_type_CSR'],
  ...['parsed', 'can_be_revoked', 'extensions', 'not_before', 'not_after', 'fingerprint_sha256', 'days_left', 'not_yet_valid', 'revoked_reason'],
];
/** The keys of a certificate or CA that is not a CSR, between its paths and CLOSING. */
const ISSUED = [
  ...['expired', 'issuer', 'issuer_dn', ...SUBJECT, 'digest_algorithm', 'from', 'common', 'until', 'fingerprint'],
  ...['key_type', 'internal', 'lifetime', 'serial', 'key_length', 'add_to_trusted_store', 'chain'],
];

describe('entries', () => {
  it('list a certificate signed here in TrueNAS order, with its renewal state after', () => {
    const entry = certificateEntry(certificate, context());
    expect(Object.keys(entry)).toEqual([...OPENING, 'revoked_date', 'signedby', 'root_path', ...PATHS, ...ISSUED, ...CLOSING, 'auto_renew', 'renew_days', ...RENEWAL_STATE, 'used_by', 'previous_versions']);
    expect(entry).toMatchObject({ auto_renew: true, renew_days: 10, rotate_key: true, renewal_error: 'the CA was away', renewal_attempts: 2, renewal_next_attempt: '2026-06-01T00:00:00.000Z' });
  });

  it('list an ACME certificate with its ACME fields and registration where TrueNAS puts them', () => {
    const sealed = box.encrypt(JSON.stringify({ 'leaf.example': 4 }));
    const entry = certificateEntry({ ...certificate, acme_id: 3, acme_uri: 'https://acme.example/cert/2', domains_authenticators: sealed }, context());
    expect(Object.keys(entry)).toEqual([...OPENING, ...ACME, 'revoked_date', 'signedby', 'root_path', 'acme', ...PATHS, ...ISSUED, ...CLOSING, 'used_by', 'previous_versions']);
    expect(entry).toMatchObject({ acme_uri: 'https://acme.example/cert/2', domains_authenticators: { 'leaf.example': 4 }, renew_days: 10, rotate_key: true, renewal_attempts: 2 });
    expect(entry.acme).toEqual({ id: 3, uri: 'https://acme.example/account/3' });
  });

  it('list a CSR without the fields only an issued certificate has', () => {
    const entry = certificateEntry({ ...certificate, type: CERT_TYPE_CSR, signedby_id: null }, context());
    const issuedOnly = new Set(['expired', 'digest_algorithm', 'fingerprint', 'lifetime', 'serial', 'chain']);
    expect(Object.keys(entry)).toEqual([...OPENING, 'revoked_date', 'signedby', 'root_path', ...PATHS, ...ISSUED.filter((key) => !issuedOnly.has(key)), ...CLOSING, 'used_by', 'previous_versions']);
  });

  it('list a CA with what it revoked, signed and publishes after the common fields', () => {
    const entry = caEntry(ca, context());
    const published = ['revoked_certs', 'crl_path', 'signed_certificates', 'signed_entries', 'crl_url', 'ca_certificate_url', 'crl_next_update'];
    expect(Object.keys(entry)).toEqual([...OPENING, 'revoked_date', 'signedby', 'root_path', ...PATHS, ...ISSUED, ...CLOSING, ...published]);
  });
});
