import { describe, expect, it } from 'vitest';
import { EKU_OIDS, caDefaultExtensions, checkExtensions, defaultExtensions, type CertExtensions } from './extensions.js';

function withExtensions(change: (ext: CertExtensions) => void): CertExtensions {
  const ext = defaultExtensions();
  change(ext);
  return ext;
}

describe('EKU_OIDS', () => {
  it('maps the 11 TrueNAS names, alphabetically, to their OIDs', () => {
    expect(Object.keys(EKU_OIDS)).toEqual([...Object.keys(EKU_OIDS)].sort());
    expect(Object.keys(EKU_OIDS)).toHaveLength(11);
    expect(EKU_OIDS.SERVER_AUTH).toBe('1.3.6.1.5.5.7.3.1');
    expect(EKU_OIDS.KERBEROS_PKINIT_KDC).toBe('1.3.6.1.5.2.3.5');
    expect(EKU_OIDS.CERTIFICATE_TRANSPARENCY).toBe('1.3.6.1.4.1.11129.2.4.4');
  });
});

describe('defaultExtensions', () => {
  it('disables everything', () => {
    const ext = defaultExtensions();
    expect(Object.values(ext).every((value) => value.enabled === false)).toBe(true);
    expect(ext.BasicConstraints).toEqual({ enabled: false, ca: false, path_length: null, extension_critical: false });
    expect(ext.ExtendedKeyUsage.usages).toEqual([]);
  });
});

describe('checkExtensions', () => {
  it('accepts the defaults and the TrueNAS CA defaults', () => {
    expect(checkExtensions(defaultExtensions())).toEqual([]);
    expect(checkExtensions(caDefaultExtensions())).toEqual([]);
  });

  it('requires ca when key_cert_sign is set', () => {
    const ext = withExtensions((e) => {
      e.KeyUsage.enabled = true;
      e.KeyUsage.key_cert_sign = true;
    });
    expect(checkExtensions(ext)).toEqual([['BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.']]);
  });

  it('requires at least one usage in an enabled ExtendedKeyUsage', () => {
    const ext = withExtensions((e) => {
      e.ExtendedKeyUsage.enabled = true;
    });
    expect(checkExtensions(ext)).toEqual([['ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.']]);
  });

  it('reports the cryptography constructor messages TrueNAS shows', () => {
    const ext = withExtensions((e) => {
      e.BasicConstraints = { enabled: true, ca: false, path_length: 1, extension_critical: false };
      e.KeyUsage.enabled = true;
      e.KeyUsage.encipher_only = true;
    });
    expect(checkExtensions(ext)).toEqual([
      ['BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be None when ca is False'],
      ['KeyUsage', 'Please provide valid values for KeyUsage: encipher_only and decipher_only can only be true when key_agreement is true'],
    ]);
    const negative = withExtensions((e) => {
      e.BasicConstraints = { enabled: true, ca: true, path_length: -1, extension_critical: false };
    });
    expect(checkExtensions(negative)).toEqual([
      ['BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be a non-negative integer or None'],
    ]);
  });

  it('ignores disabled extensions', () => {
    const ext = withExtensions((e) => {
      e.BasicConstraints.path_length = 3;
      e.KeyUsage.decipher_only = true;
    });
    expect(checkExtensions(ext)).toEqual([]);
  });
});
