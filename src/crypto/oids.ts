/** OID tables, with the short and long names OpenSSL 3.0 prints for them. */

/** Subject/issuer attribute types: OpenSSL short name. */
export const NAME_ATTRIBUTES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

export const OID = {
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  locality: '2.5.4.7',
  state: '2.5.4.8',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  emailAddress: '1.2.840.113549.1.9.1',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  nameConstraints: '2.5.29.30',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyConstraints: '2.5.29.36',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  freshestCrl: '2.5.29.46',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectInfoAccess: '1.3.6.1.5.5.7.1.11',
  tlsFeature: '1.3.6.1.5.5.7.1.24',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  nsCertType: '2.16.840.1.113730.1.1',
  nsComment: '2.16.840.1.113730.1.13',
  ctPrecertScts: '1.3.6.1.4.1.11129.2.4.2',
  ctPrecertPoison: '1.3.6.1.4.1.11129.2.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  msExtensionRequest: '1.3.6.1.4.1.311.2.1.14',
  rsassaPss: '1.2.840.113549.1.1.10',
  cpsQualifier: '1.3.6.1.5.5.7.2.1',
  userNoticeQualifier: '1.3.6.1.5.5.7.2.2',
} as const;

/** Certificate/CSR extensions: OpenSSL short name (pyOpenSSL `get_short_name()`). */
export const EXTENSION_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.29.9': 'subjectDirectoryAttributes',
  '2.5.29.14': 'subjectKeyIdentifier',
  '2.5.29.15': 'keyUsage',
  '2.5.29.16': 'privateKeyUsagePeriod',
  '2.5.29.17': 'subjectAltName',
  '2.5.29.18': 'issuerAltName',
  '2.5.29.19': 'basicConstraints',
  '2.5.29.30': 'nameConstraints',
  '2.5.29.31': 'crlDistributionPoints',
  '2.5.29.32': 'certificatePolicies',
  '2.5.29.33': 'policyMappings',
  '2.5.29.35': 'authorityKeyIdentifier',
  '2.5.29.36': 'policyConstraints',
  '2.5.29.37': 'extendedKeyUsage',
  '2.5.29.46': 'freshestCRL',
  '2.5.29.54': 'inhibitAnyPolicy',
  '1.3.6.1.5.5.7.1.1': 'authorityInfoAccess',
  '1.3.6.1.5.5.7.1.11': 'subjectInfoAccess',
  '1.3.6.1.5.5.7.1.24': 'tlsfeature',
  '1.3.6.1.5.5.7.1.3': 'qcStatements',
  '1.3.6.1.5.5.7.48.1.5': 'noCheck',
  '2.16.840.1.113730.1.1': 'nsCertType',
  '2.16.840.1.113730.1.13': 'nsComment',
  '1.3.6.1.4.1.11129.2.4.2': 'ct_precert_scts',
  '1.3.6.1.4.1.11129.2.4.3': 'ct_precert_poison',
  '1.3.6.1.4.1.311.20.2': 'msCertificateTemplateName',
};

/** Extended key usages: OpenSSL long name. */
export const EKU_LONG_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'TLS Web Server Authentication',
  '1.3.6.1.5.5.7.3.2': 'TLS Web Client Authentication',
  '1.3.6.1.5.5.7.3.3': 'Code Signing',
  '1.3.6.1.5.5.7.3.4': 'E-mail Protection',
  '1.3.6.1.5.5.7.3.5': 'IPSec End System',
  '1.3.6.1.5.5.7.3.6': 'IPSec Tunnel',
  '1.3.6.1.5.5.7.3.7': 'IPSec User',
  '1.3.6.1.5.5.7.3.8': 'Time Stamping',
  '1.3.6.1.5.5.7.3.9': 'OCSP Signing',
  '1.3.6.1.5.5.7.3.17': 'ipsec Internet Key Exchange',
  '2.5.29.37.0': 'Any Extended Key Usage',
  '1.3.6.1.4.1.311.20.2.2': 'Microsoft Smartcard Login',
  '1.3.6.1.4.1.311.10.3.3': 'Microsoft Server Gated Crypto',
  '1.3.6.1.4.1.311.10.3.4': 'Microsoft Encrypted File System',
  '2.16.840.1.113730.4.1': 'Netscape Server Gated Crypto',
  '1.3.6.1.5.2.3.4': 'PKINIT Client Auth',
  '1.3.6.1.5.2.3.5': 'Signing KDC Response',
  '1.3.6.1.4.1.11129.2.4.4': 'CT Precertificate Signer',
};

/** Other objects OpenSSL names in extension text (access methods, policies). */
export const OBJECT_LONG_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.48.1': 'OCSP',
  '1.3.6.1.5.5.7.48.2': 'CA Issuers',
  '1.3.6.1.5.5.7.48.3': 'AD Time Stamping',
  '1.3.6.1.5.5.7.48.5': 'CA Repository',
  '2.5.29.32.0': 'X509v3 Any Policy',
};

/** Signature algorithms: OpenSSL long name, hash for node:crypto (null = none) and key family. */
export interface SignatureAlgorithm {
  longName: string;
  hash: string | null;
  keyType: 'rsa' | 'ec' | 'ed25519' | 'ed448' | 'dsa';
}

export const SIGNATURE_ALGORITHMS: Readonly<Record<string, SignatureAlgorithm>> = {
  '1.2.840.113549.1.1.4': { longName: 'md5WithRSAEncryption', hash: 'md5', keyType: 'rsa' },
  '1.2.840.113549.1.1.5': { longName: 'sha1WithRSAEncryption', hash: 'sha1', keyType: 'rsa' },
  '1.2.840.113549.1.1.14': { longName: 'sha224WithRSAEncryption', hash: 'sha224', keyType: 'rsa' },
  '1.2.840.113549.1.1.11': { longName: 'sha256WithRSAEncryption', hash: 'sha256', keyType: 'rsa' },
  '1.2.840.113549.1.1.12': { longName: 'sha384WithRSAEncryption', hash: 'sha384', keyType: 'rsa' },
  '1.2.840.113549.1.1.13': { longName: 'sha512WithRSAEncryption', hash: 'sha512', keyType: 'rsa' },
  '1.2.840.10045.4.1': { longName: 'ecdsa-with-SHA1', hash: 'sha1', keyType: 'ec' },
  '1.2.840.10045.4.3.1': { longName: 'ecdsa-with-SHA224', hash: 'sha224', keyType: 'ec' },
  '1.2.840.10045.4.3.2': { longName: 'ecdsa-with-SHA256', hash: 'sha256', keyType: 'ec' },
  '1.2.840.10045.4.3.3': { longName: 'ecdsa-with-SHA384', hash: 'sha384', keyType: 'ec' },
  '1.2.840.10045.4.3.4': { longName: 'ecdsa-with-SHA512', hash: 'sha512', keyType: 'ec' },
  '1.2.840.10040.4.3': { longName: 'dsaWithSHA1', hash: 'sha1', keyType: 'dsa' },
  '2.16.840.1.101.3.4.3.1': { longName: 'dsa_with_SHA224', hash: 'sha224', keyType: 'dsa' },
  '2.16.840.1.101.3.4.3.2': { longName: 'dsa_with_SHA256', hash: 'sha256', keyType: 'dsa' },
  '2.16.840.1.101.3.4.3.3': { longName: 'dsa_with_SHA384', hash: 'sha384', keyType: 'dsa' },
  '2.16.840.1.101.3.4.3.4': { longName: 'dsa_with_SHA512', hash: 'sha512', keyType: 'dsa' },
  '1.3.101.112': { longName: 'ED25519', hash: null, keyType: 'ed25519' },
  '1.3.101.113': { longName: 'ED448', hash: null, keyType: 'ed448' },
};

/** Hash algorithm OIDs (PKCS#12 MAC, RSASSA-PSS parameters, PBKDF2 PRFs). */
export const HASH_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
