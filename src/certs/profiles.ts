/** The Add Certificate wizard's profiles (TrueNAS `webui.crypto.*`, 24.10 `certificate.profiles`). */

const HTTPS_EXTENSIONS = {
  BasicConstraints: { enabled: true, ca: false, extension_critical: true },
  AuthorityKeyIdentifier: { enabled: true, authority_cert_issuer: true, extension_critical: false },
  ExtendedKeyUsage: { enabled: true, extension_critical: true, usages: ['SERVER_AUTH', 'CLIENT_AUTH'] },
};

export const CERTIFICATE_PROFILES = {
  'HTTPS RSA Certificate': {
    cert_extensions: {
      ...HTTPS_EXTENSIONS,
      KeyUsage: { enabled: true, extension_critical: true, digital_signature: true, key_encipherment: true, key_agreement: true },
    },
    key_length: 2048,
    key_type: 'RSA',
    lifetime: 397,
    digest_algorithm: 'SHA256',
  },
  'HTTPS ECC Certificate': {
    cert_extensions: {
      ...HTTPS_EXTENSIONS,
      KeyUsage: { enabled: true, extension_critical: true, digital_signature: true },
    },
    ec_curve: 'SECP384R1',
    key_type: 'EC',
    lifetime: 397,
    digest_algorithm: 'SHA256',
  },
};

/** CSR profiles: the certificate profiles without AuthorityKeyIdentifier (a CSR cannot carry it). */
export const CSR_PROFILES = Object.fromEntries(
  Object.entries(CERTIFICATE_PROFILES).map(([name, profile]) => {
    const { AuthorityKeyIdentifier: _omitted, ...extensions } = profile.cert_extensions;
    return [name, { ...profile, cert_extensions: extensions }];
  }),
);

export const CA_PROFILES = {
  CA: {
    key_length: 2048,
    key_type: 'RSA',
    lifetime: 397,
    digest_algorithm: 'SHA256',
    cert_extensions: {
      KeyUsage: { enabled: true, key_cert_sign: true, crl_sign: true, extension_critical: true },
      BasicConstraints: { enabled: true, ca: true, extension_critical: true },
      ExtendedKeyUsage: { enabled: true, extension_critical: true, usages: ['SERVER_AUTH'] },
    },
  },
};
