import type { KeyObject } from 'node:crypto';
import { certificateIssuerDn, parseCertificateFields, parseCsr, type CertificateFields, type IssuedCertificate } from '../crypto/certificates.js';
import { describeKey, type KeyInfo } from '../crypto/keys.js';
import type { StoredDetails } from './entities.js';

const UNPARSED: StoredDetails = {
  parsed: false,
  country: null,
  state: null,
  city: null,
  organization: null,
  organizational_unit: null,
  common: null,
  email: null,
  san: [],
  DN: null,
  subject_name_hash: null,
  extensions: {},
  digest_algorithm: null,
  lifetime: null,
  not_before: null,
  not_after: null,
  serial: null,
  chain: false,
  fingerprint: null,
  fingerprint_sha256: null,
  issuer_dn: null,
  key_type: null,
  key_length: null,
};

/** The columns kept beside `details` so that filters and renewal can use them in SQL. */
export function detailColumns(details: StoredDetails): { details: StoredDetails; serial: string | null; not_after: Date | null } {
  return { details, serial: details.serial, not_after: details.not_after === null ? null : new Date(details.not_after) };
}

function keyFields(privateKey: KeyObject | null): Pick<StoredDetails, 'key_type' | 'key_length'> {
  return privateKey ? keyInfoFields(describeKey(privateKey)) : { key_type: null, key_length: null };
}

const keyInfoFields = (info: KeyInfo): Pick<StoredDetails, 'key_type' | 'key_length'> => ({ key_type: info.keyType, key_length: info.keyLength });

/** What a certificate's PEM (first block) says, computed once when it is stored. */
export function certificateDetails(certificatePem: string, privateKey: KeyObject | null): StoredDetails {
  // Also of a certificate only OpenSSL reads, as entries showed it when they parsed each one.
  const issuerDn = certificateIssuerDn(certificatePem);
  try {
    const parsed = parseCertificateFields(certificatePem);
    const blocks = certificatePem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
    return storedCertificateDetails(parsed, blocks > 1, keyFields(privateKey), issuerDn);
  } catch {
    return { ...UNPARSED, issuer_dn: issuerDn, ...keyFields(privateKey) };
  }
}

/**
 * {@link certificateDetails} of a certificate just issued (one PEM block), from the fields it was
 * built with and the kind of key it was issued for, without reading either back.
 */
export function issuedCertificateDetails(issued: IssuedCertificate, key: KeyInfo): StoredDetails {
  return storedCertificateDetails(issued.fields(), false, keyInfoFields(key), issued.issuerDn());
}

function storedCertificateDetails(parsed: CertificateFields, chain: boolean, key: Pick<StoredDetails, 'key_type' | 'key_length'>, issuerDn: string | null): StoredDetails {
  return {
    parsed: true,
    ...subjectDetails(parsed),
    subject_name_hash: parsed.subject_name_hash,
    extensions: parsed.extensions,
    digest_algorithm: parsed.digest_algorithm,
    lifetime: parsed.lifetime,
    not_before: parsed.not_before?.getTime() ?? null,
    not_after: parsed.not_after?.getTime() ?? null,
    serial: parsed.serial,
    chain,
    fingerprint: parsed.fingerprint,
    fingerprint_sha256: parsed.fingerprint_sha256,
    issuer_dn: issuerDn,
    ...key,
  };
}

/** The subject and SAN fields that certificates and CSRs both show, in the stored order. */
function subjectDetails(parsed: Pick<StoredDetails, 'country' | 'state' | 'city' | 'organization' | 'organizational_unit' | 'common' | 'email' | 'san' | 'DN'>) {
  return {
    country: parsed.country,
    state: parsed.state,
    city: parsed.city,
    organization: parsed.organization,
    organizational_unit: parsed.organizational_unit,
    common: parsed.common,
    email: parsed.email,
    san: parsed.san,
    DN: parsed.DN,
  };
}

/** What a CSR says; certificate-only fields stay empty. */
export function csrDetails(csrPem: string, privateKey: KeyObject | null): StoredDetails {
  try {
    const parsed = parseCsr(csrPem);
    return {
      ...UNPARSED,
      parsed: true,
      ...subjectDetails(parsed),
      extensions: parsed.extensions,
      ...keyFields(privateKey),
    };
  } catch {
    return { ...UNPARSED, ...keyFields(privateKey) };
  }
}
