import { OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  type Name,
} from '@peculiar/asn1-x509';
import { EncodedValue, encode, integerOctets } from './asn1.js';
import { OID } from './oids.js';
import { Recent } from './recent.js';

/** TrueNAS EKU choices (python `cryptography` ExtendedKeyUsageOID attribute names). */
export type EkuName =
  | 'ANY_EXTENDED_KEY_USAGE'
  | 'CERTIFICATE_TRANSPARENCY'
  | 'CLIENT_AUTH'
  | 'CODE_SIGNING'
  | 'EMAIL_PROTECTION'
  | 'IPSEC_IKE'
  | 'KERBEROS_PKINIT_KDC'
  | 'OCSP_SIGNING'
  | 'SERVER_AUTH'
  | 'SMARTCARD_LOGON'
  | 'TIME_STAMPING';

/** EKU name → OID, in TrueNAS (alphabetical) order. */
export const EKU_OIDS: Record<EkuName, string> = {
  ANY_EXTENDED_KEY_USAGE: '2.5.29.37.0',
  CERTIFICATE_TRANSPARENCY: '1.3.6.1.4.1.11129.2.4.4',
  CLIENT_AUTH: '1.3.6.1.5.5.7.3.2',
  CODE_SIGNING: '1.3.6.1.5.5.7.3.3',
  EMAIL_PROTECTION: '1.3.6.1.5.5.7.3.4',
  IPSEC_IKE: '1.3.6.1.5.5.7.3.17',
  KERBEROS_PKINIT_KDC: '1.3.6.1.5.2.3.5',
  OCSP_SIGNING: '1.3.6.1.5.5.7.3.9',
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  SMARTCARD_LOGON: '1.3.6.1.4.1.311.20.2.2',
  TIME_STAMPING: '1.3.6.1.5.5.7.3.8',
};

/** TrueNAS `cert_extensions`: only sub-objects with `enabled: true` are written. */
export interface CertExtensions {
  BasicConstraints: { enabled: boolean; ca: boolean; path_length: number | null; extension_critical: boolean };
  AuthorityKeyIdentifier: { enabled: boolean; authority_cert_issuer: boolean; extension_critical: boolean };
  ExtendedKeyUsage: { enabled: boolean; usages: EkuName[]; extension_critical: boolean };
  KeyUsage: {
    enabled: boolean;
    digital_signature: boolean;
    content_commitment: boolean;
    key_encipherment: boolean;
    data_encipherment: boolean;
    key_agreement: boolean;
    key_cert_sign: boolean;
    crl_sign: boolean;
    encipher_only: boolean;
    decipher_only: boolean;
    extension_critical: boolean;
  };
}

/** TrueNAS defaults: every extension disabled. */
export function defaultExtensions(): CertExtensions {
  return {
    BasicConstraints: { enabled: false, ca: false, path_length: null, extension_critical: false },
    AuthorityKeyIdentifier: { enabled: false, authority_cert_issuer: false, extension_critical: false },
    ExtendedKeyUsage: { enabled: false, usages: [], extension_critical: false },
    KeyUsage: {
      enabled: false,
      digital_signature: false,
      content_commitment: false,
      key_encipherment: false,
      data_encipherment: false,
      key_agreement: false,
      key_cert_sign: false,
      crl_sign: false,
      encipher_only: false,
      decipher_only: false,
      extension_critical: false,
    },
  };
}

/**
 * TrueNAS CA defaults (`certificateauthority.create`): critical BasicConstraints CA:TRUE, critical
 * KeyUsage keyCertSign + cRLSign, ExtendedKeyUsage serverAuth.
 */
export function caDefaultExtensions(): CertExtensions {
  const ext = defaultExtensions();
  ext.BasicConstraints = { ...ext.BasicConstraints, enabled: true, ca: true, extension_critical: true };
  ext.KeyUsage = { ...ext.KeyUsage, enabled: true, key_cert_sign: true, crl_sign: true, extension_critical: true };
  ext.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH'], extension_critical: false };
  return ext;
}

/**
 * TrueNAS `validate_extensions`: `[attributeSuffix, message]` pairs, to be prefixed with the schema
 * name (`certificate_create.`). Constructor failures come first, in extension order, with the
 * `cryptography` messages TrueNAS shows.
 */
export function checkExtensions(ext: CertExtensions): Array<[string, string]> {
  const errors: Array<[string, string]> = [];
  const invalid = (name: string, reason: string): void => {
    errors.push([name, `Please provide valid values for ${name}: ${reason}`]);
  };
  const { BasicConstraints: bc, ExtendedKeyUsage: eku, KeyUsage: ku } = ext;
  if (bc.enabled) {
    if (bc.path_length !== null && !bc.ca) invalid('BasicConstraints', 'path_length must be None when ca is False');
    else if (bc.path_length !== null && !(Number.isInteger(bc.path_length) && bc.path_length >= 0)) {
      invalid('BasicConstraints', 'path_length must be a non-negative integer or None');
    }
  }
  if (eku.enabled) {
    const unknown = eku.usages.find((usage) => !(usage in EKU_OIDS));
    if (unknown) invalid('ExtendedKeyUsage', `type object 'ExtendedKeyUsageOID' has no attribute '${unknown}'`);
  }
  if (ku.enabled && !ku.key_agreement && (ku.encipher_only || ku.decipher_only)) {
    invalid('KeyUsage', 'encipher_only and decipher_only can only be true when key_agreement is true');
  }
  if (ku.enabled && ku.key_cert_sign && !(bc.enabled && bc.ca)) {
    errors.push(['BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.']);
  }
  if (eku.enabled && eku.usages.length === 0) {
    errors.push(['ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.']);
  }
  return errors;
}

/** Extension { extnID, critical (written only when true, its DEFAULT being false), extnValue }. */
export function extension(extnId: string, critical: boolean, value: Buffer): Extension {
  return new Extension({ extnID: extnId, critical, extnValue: new OctetString(value) });
}

/** What AuthorityKeyIdentifier needs to know about the issuing CA. */
export interface AuthorityInfo {
  keyIdentifier: Buffer;
  /**
   * With `authority_cert_issuer`: the CA certificate's own issuer Name (DER) and serial, as RFC 5280
   * §4.2.1.1 and OpenSSL's `issuer:always` define them. (TrueNAS writes the CA's subject instead,
   * which OpenSSL rejects below an intermediate; for self-signed CAs the two agree.)
   */
  issuerName: Buffer;
  serial: bigint;
}

/**
 * The enabled TrueNAS extensions in TrueNAS order (BasicConstraints, AuthorityKeyIdentifier,
 * ExtendedKeyUsage, KeyUsage). AuthorityKeyIdentifier needs `authority`; CSRs pass none and skip it.
 */
export function encodeTrueNasExtensions(ext: CertExtensions, authority: AuthorityInfo | null): Extension[] {
  const out: Extension[] = [];
  const { BasicConstraints: bc, AuthorityKeyIdentifier: aki, ExtendedKeyUsage: eku, KeyUsage: ku } = ext;
  if (bc.enabled) out.push(extension(OID.basicConstraints, bc.extension_critical, basicConstraintsValue(bc.ca, bc.path_length)));
  if (aki.enabled && authority) {
    const issuer = aki.authority_cert_issuer ? { name: authority.issuerName, serial: authority.serial } : null;
    const value = authorityKeyIdentifierValue(authority.keyIdentifier, issuer);
    out.push(extension(OID.authorityKeyIdentifier, aki.extension_critical, value));
  }
  if (eku.enabled) {
    out.push(extension(OID.extendedKeyUsage, eku.extension_critical, encode(new ExtendedKeyUsage(eku.usages.map((usage) => EKU_OIDS[usage])))));
  }
  if (ku.enabled) {
    const bits: Array<[boolean, KeyUsageFlags]> = [
      [ku.digital_signature, KeyUsageFlags.digitalSignature],
      [ku.content_commitment, KeyUsageFlags.nonRepudiation],
      [ku.key_encipherment, KeyUsageFlags.keyEncipherment],
      [ku.data_encipherment, KeyUsageFlags.dataEncipherment],
      [ku.key_agreement, KeyUsageFlags.keyAgreement],
      [ku.key_cert_sign, KeyUsageFlags.keyCertSign],
      [ku.crl_sign, KeyUsageFlags.cRLSign],
      [ku.encipher_only, KeyUsageFlags.encipherOnly],
      [ku.decipher_only, KeyUsageFlags.decipherOnly],
    ];
    // The schema's BitString drops trailing zero bits, as DER wants for named bits.
    const flags = bits.reduce((all, [on, flag]) => (on ? all | flag : all), 0);
    out.push(extension(OID.keyUsage, ku.extension_critical, encode(new KeyUsage(flags))));
  }
  return out;
}

/** BasicConstraints value; `cA FALSE` is the DEFAULT and so omitted (DER). */
function basicConstraintsValue(ca: boolean, pathLength: number | null): Buffer {
  return encode(new BasicConstraints(ca && pathLength !== null ? { cA: ca, pathLenConstraint: pathLength } : { cA: ca }));
}

/** AuthorityKeyIdentifier value: `[0]` keyIdentifier, optionally `[1]` DirName and `[2]` serial. */
export function authorityKeyIdentifierValue(keyIdentifier: Buffer, issuer: { name: Buffer; serial: bigint } | null): Buffer {
  const value = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier) });
  if (issuer) {
    // The issuer's Name exactly as its certificate encodes it.
    value.authorityCertIssuer = [new GeneralName({ directoryName: new EncodedValue(issuer.name) as unknown as Name })];
    value.authorityCertSerialNumber = integerOctets(issuer.serial);
  }
  return encode(value);
}

/** CRLDistributionPoints with one fullName URI. */
export function crlDistributionPointsValue(url: string): Buffer {
  return recentValues.getOrMake(`crl ${url}`, () => {
    const name = new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: url })] });
    return encode(new CRLDistributionPoints([new DistributionPoint({ distributionPoint: name })]));
  });
}

/** AuthorityInformationAccess with one caIssuers URI. */
export function caIssuersValue(url: string): Buffer {
  return recentValues.getOrMake(`aia ${url}`, () => {
    const location = new GeneralName({ uniformResourceIdentifier: url });
    return encode(new AuthorityInfoAccessSyntax([new AccessDescription({ accessMethod: OID.caIssuers, accessLocation: location })]));
  });
}

/** Values by what they encode: every certificate a CA signs carries the same CRL and AIA links. */
const recentValues = new Recent<string, Buffer>(64);
