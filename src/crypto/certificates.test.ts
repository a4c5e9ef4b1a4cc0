import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  opensslExtensions,
  opensslOk,
  reqVerify,
  verifyChain,
  withFiles,
  x509Fingerprint,
  x509Hash,
  x509Text,
} from '../../test/helpers/openssl.js';
import {
  CertificateParseError,
  certificateDer,
  createCsr,
  ctime,
  issueCertificate,
  parseCertificate,
  parseCsr,
  verifySignedBy,
  type Digest,
  type IssueRequest,
} from './certificates.js';
import { EKU_OIDS, caDefaultExtensions, defaultExtensions, type CertExtensions, type EkuName } from './extensions.js';
import { generatePrivateKey, loadPrivateKey, publicKeysEqual, type KeySpec } from './keys.js';
import { parseSan } from './san.js';

const DAY = 86_400_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);

interface Issued {
  pem: string;
  key: KeyObject;
}

async function issue(options: Omit<Partial<IssueRequest>, 'signer'> & { key?: KeyObject; signer?: Issued | null } = {}): Promise<Issued> {
  const key = options.key ?? (await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' }));
  const signer = options.signer ?? null;
  const pem = await issueCertificate({
    subject: { common: 'test' },
    san: [],
    serial: 1000n,
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 397 * DAY),
    digest: 'SHA256',
    extensions: defaultExtensions(),
    ...options,
    publicKey: key,
    signer: signer ? { privateKey: signer.key, certificatePem: signer.pem } : { privateKey: key, certificatePem: null },
  });
  return { pem, key };
}

function leafExtensions(): CertExtensions {
  const ext = defaultExtensions();
  ext.BasicConstraints = { enabled: true, ca: false, path_length: null, extension_critical: false };
  ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: true, extension_critical: false };
  ext.ExtendedKeyUsage = { enabled: true, usages: Object.keys(EKU_OIDS) as EkuName[], extension_critical: true };
  ext.KeyUsage = {
    ...ext.KeyUsage,
    enabled: true,
    digital_signature: true,
    content_commitment: true,
    key_encipherment: true,
    key_agreement: true,
    decipher_only: true,
    extension_critical: true,
  };
  return ext;
}

describe('issueCertificate', () => {
  let root: Issued;
  let intermediate: Issued;
  let leaf: Issued;

  beforeAll(async () => {
    const rootExtensions = caDefaultExtensions();
    rootExtensions.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: false, extension_critical: false };
    root = await issue({
      key: await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 }),
      subject: { common: 'Root CA', country: 'US', organization: 'certmid' },
      extensions: rootExtensions,
      serial: 0x68f914n,
    });
    const intermediateExtensions = caDefaultExtensions();
    intermediateExtensions.BasicConstraints.path_length = 0;
    intermediateExtensions.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: true, extension_critical: false };
    intermediate = await issue({ subject: { common: 'Intermediate CA' }, signer: root, extensions: intermediateExtensions, serial: 0x68f915n, digest: 'SHA384' });
    leaf = await issue({
      key: await generatePrivateKey({ keyType: 'EC', curve: 'SECP384R1' }),
      subject: { common: 'dev', country: 'US', state: 'TN', city: 'Knoxville', organization: 'iX', organizational_unit: 'dev', email: 'dev@ix.com' },
      san: parseSan(['DNS:*.example.com', 'bücher.example', '8.8.8.8', '2001:db8::1', 'admin@example.com', 'https://example.com/x']),
      signer: intermediate,
      extensions: leafExtensions(),
      serial: 0x68f916n,
      crlDistributionPoint: 'http://ca.example/crl/2.crl',
      caIssuersUrl: 'http://ca.example/ca/2.crt',
    });
  });

  it('issues a root, an intermediate and a leaf that openssl verifies as a chain', async () => {
    expect((await verifyChain(intermediate.pem, [root.pem])).ok).toBe(true);
    const result = await verifyChain(leaf.pem, [intermediate.pem, root.pem]);
    expect(result.output).toContain(': OK');
    expect(result.ok).toBe(true);
  });

  it('writes the subject in TrueNAS order with PrintableString country and IA5String e-mail', async () => {
    const { stdout } = await opensslOk(['x509', '-noout', '-subject', '-nameopt', 'sep_comma_plus,show_type'], leaf.pem);
    expect(stdout.trim()).toBe(
      'subject=CN=UTF8STRING:dev,C=PRINTABLESTRING:US,ST=UTF8STRING:TN,L=UTF8STRING:Knoxville,O=UTF8STRING:iX,OU=UTF8STRING:dev,emailAddress=IA5STRING:dev@ix.com',
    );
  });

  it('writes every requested extension with the requested criticality', async () => {
    const extensions = opensslExtensions(await x509Text(leaf.pem));
    const intermediateSki = parseCertificate(intermediate.pem).subject_key_identifier;
    expect(extensions).toEqual([
      {
        title: 'X509v3 Subject Alternative Name',
        critical: false,
        value:
          'DNS:*.example.com, DNS:xn--bcher-kva.example, IP Address:8.8.8.8, IP Address:2001:DB8:0:0:0:0:0:1, email:admin@example.com, URI:https://example.com/x',
      },
      { title: 'X509v3 Subject Key Identifier', critical: false, value: expect.stringMatching(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/) },
      { title: 'X509v3 Basic Constraints', critical: false, value: 'CA:FALSE' },
      {
        title: 'X509v3 Authority Key Identifier',
        critical: false,
        value: `keyid:${intermediateSki}\nDirName:/CN=Root CA/C=US/O=certmid\nserial:68:F9:15`,
      },
      {
        title: 'X509v3 Extended Key Usage',
        critical: true,
        value:
          'Any Extended Key Usage, CT Precertificate Signer, TLS Web Client Authentication, Code Signing, E-mail Protection, ' +
          'ipsec Internet Key Exchange, Signing KDC Response, OCSP Signing, TLS Web Server Authentication, Microsoft Smartcard Login, Time Stamping',
      },
      {
        title: 'X509v3 Key Usage',
        critical: true,
        value: 'Digital Signature, Non Repudiation, Key Encipherment, Key Agreement, Decipher Only',
      },
      { title: 'X509v3 CRL Distribution Points', critical: false, value: 'Full Name:\n  URI:http://ca.example/crl/2.crl' },
      { title: 'Authority Information Access', critical: false, value: 'CA Issuers - URI:http://ca.example/ca/2.crt' },
    ]);
  });

  it('writes CA BasicConstraints with pathlen, critical, and the AKI keyid alone when asked', async () => {
    const intermediateText = opensslExtensions(await x509Text(intermediate.pem));
    expect(intermediateText).toContainEqual({ title: 'X509v3 Basic Constraints', critical: true, value: 'CA:TRUE, pathlen:0' });
    expect(intermediateText).toContainEqual({ title: 'X509v3 Key Usage', critical: true, value: 'Certificate Sign, CRL Sign' });
    const rootText = opensslExtensions(await x509Text(root.pem));
    const ski = rootText.find((ext) => ext.title === 'X509v3 Subject Key Identifier')?.value;
    expect(rootText).toContainEqual({ title: 'X509v3 Authority Key Identifier', critical: false, value: ski });
  });

  const KEYS: Array<[string, KeySpec]> = [
    ['RSA 2048', { keyType: 'RSA', keyLength: 2048 }],
    ['EC P-256', { keyType: 'EC', curve: 'SECP256R1' }],
    ['EC P-384', { keyType: 'EC', curve: 'SECP384R1' }],
    ['EC P-521', { keyType: 'EC', curve: 'SECP521R1' }],
  ];
  const DIGESTS: Digest[] = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512'];

  it.each(KEYS)('signs with every digest using %s keys, verified by openssl', async (_name, spec) => {
    const key = await generatePrivateKey(spec);
    for (const digest of DIGESTS) {
      const { pem } = await issue({ key, digest, extensions: caDefaultExtensions() });
      const details = parseCertificate(pem);
      expect(details.digest_algorithm).toBe(digest);
      const text = await x509Text(pem);
      const algorithm = /Signature Algorithm: (\S+)/.exec(text)?.[1] ?? '';
      expect(algorithm.toUpperCase()).toContain(digest);
      const child = await issue({ subject: { common: 'child' }, signer: { pem, key }, digest, extensions: defaultExtensions() });
      expect((await verifyChain(child.pem, [pem])).ok, `${digest} chain`).toBe(true);
    }
  });

  it('signs with Ed25519, ignoring the digest', async () => {
    const key = await generatePrivateKey({ keyType: 'EC', curve: 'ed25519' });
    const ca = await issue({ key, digest: 'SHA512', extensions: caDefaultExtensions() });
    expect(await x509Text(ca.pem)).toContain('Signature Algorithm: ED25519');
    expect(parseCertificate(ca.pem).digest_algorithm).toBe('ED25519');
    const child = await issue({ subject: { common: 'child' }, signer: ca, extensions: defaultExtensions() });
    expect((await verifyChain(child.pem, [ca.pem])).ok).toBe(true);
  });

  it('encodes large serials and serials with the top bit set as positive INTEGERs', async () => {
    const serial = (1n << 127n) + 12345n;
    const { pem } = await issue({ serial });
    const { stdout } = await opensslOk(['x509', '-noout', '-serial'], pem);
    expect(BigInt(`0x${stdout.trim().split('=')[1]}`)).toBe(serial);
    expect(parseCertificate(pem).serial).toBe(serial.toString());
  });

  it('writes UTCTime before 2050 and GeneralizedTime from 2050', async () => {
    const notAfter = new Date(Date.UTC(2051, 0, 2, 3, 4, 5));
    const { pem } = await issue({ notAfter });
    const { stdout } = await opensslOk(['asn1parse'], pem);
    expect(stdout).toMatch(/UTCTIME/);
    expect(stdout).toContain('GENERALIZEDTIME   :20510102030405Z');
    expect(parseCertificate(pem).not_after).toEqual(notAfter);
  });

  it('rejects a non-positive serial', async () => {
    await expect(issue({ serial: 0n })).rejects.toThrow(RangeError);
  });

  it('rejects a signer key that does not belong to the CA certificate', async () => {
    const stranger = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    await expect(issue({ signer: { pem: root.pem, key: stranger } })).rejects.toThrow(TypeError);
  });

  describe('verifySignedBy', () => {
    it('tells the issuer from other certificates', async () => {
      expect(await verifySignedBy(leaf.pem, intermediate.pem)).toBe(true);
      expect(await verifySignedBy(intermediate.pem, root.pem)).toBe(true);
      expect(await verifySignedBy(leaf.pem, root.pem)).toBe(false);
      expect(await verifySignedBy('garbage', root.pem)).toBe(false);
    });
  });

  describe('parseCertificate', () => {
    it('reports hash, fingerprints, serial, dates and digest as openssl does', async () => {
      const details = parseCertificate(leaf.pem);
      expect(details.subject_name_hash).toBe(await x509Hash(leaf.pem));
      expect(details.fingerprint).toBe(await x509Fingerprint(leaf.pem, 'sha1'));
      expect(details.fingerprint_sha256).toBe(await x509Fingerprint(leaf.pem, 'sha256'));
      expect(details).toMatchObject({
        common: 'dev',
        country: 'US',
        state: 'TN',
        city: 'Knoxville',
        organization: 'iX',
        organizational_unit: 'dev',
        email: 'dev@ix.com',
        serial: String(0x68f916),
        digest_algorithm: 'SHA256',
        lifetime: 397,
        not_before: NOW,
        from: ctime(NOW),
        is_ca: false,
        path_length: null,
        authority_key_identifier: parseCertificate(intermediate.pem).subject_key_identifier,
      });
      expect(details.san).toEqual([
        'DNS:*.example.com',
        'DNS:xn--bcher-kva.example',
        'IP Address:8.8.8.8',
        'IP Address:2001:DB8:0:0:0:0:0:1',
        'email:admin@example.com',
        'URI:https://example.com/x',
      ]);
      expect(details.DN).toBe(`/CN=dev/C=US/ST=TN/L=Knoxville/O=iX/OU=dev/emailAddress=dev@ix.com/subjectAltName=${details.san.join(', ')}`);
      expect(details.until).toMatch(/^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
      expect(parseCertificate(intermediate.pem)).toMatchObject({ is_ca: true, path_length: 0 });
    });

    it('gives each extension the text openssl x509 -text prints', async () => {
      const details = parseCertificate(leaf.pem);
      const expected = opensslExtensions(await x509Text(leaf.pem)).map((ext) => ext.value);
      expect(Object.keys(details.extensions)).toEqual([
        'SubjectAltName',
        'SubjectKeyIdentifier',
        'BasicConstraints',
        'AuthorityKeyIdentifier',
        'ExtendedKeyUsage',
        'KeyUsage',
        'CrlDistributionPoints',
        'AuthorityInfoAccess',
      ]);
      expect(Object.values(details.extensions)).toEqual(expected);
    });

    it('reproduces the TrueNAS sample subject hash', async () => {
      const { pem } = await issue({
        subject: { common: 'dev', country: 'US', state: 'TN', city: 'Knoxville', organization: 'iX', organizational_unit: 'dev', email: 'dev@ix.com' },
      });
      expect(parseCertificate(pem).subject_name_hash).toBe(877114495);
    });

    it('accepts DER and takes the first certificate of a chain', () => {
      const der = certificateDer(`${leaf.pem}${intermediate.pem}`);
      expect(parseCertificate(der).common).toBe('dev');
      expect(parseCertificate(`junk\n${intermediate.pem}\n${leaf.pem}`).common).toBe('Intermediate CA');
    });

    it('throws CertificateParseError on garbage', () => {
      expect(() => parseCertificate('not a certificate')).toThrow(CertificateParseError);
      expect(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(CertificateParseError);
      expect(() => parseCertificate(Buffer.from([0x30, 0x82, 0x01]))).toThrow(CertificateParseError);
      expect(() => parseCertificate(certificateDer(leaf.pem).subarray(0, 200))).toThrow(CertificateParseError);
    });
  });
});

describe('certificateDer', () => {
  it('returns the DER openssl writes', async () => {
    const { pem } = await issue();
    expect(certificateDer(pem)).toEqual((await opensslOk(['x509', '-outform', 'DER'], pem)).stdoutBuffer);
  });
});

describe('ctime', () => {
  it('formats like Python ctime() in the local time zone', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'Asia/Kolkata';
      expect(ctime(new Date(Date.UTC(2027, 11, 8, 10, 43, 59)))).toBe('Wed Dec  8 16:13:59 2027');
      process.env.TZ = 'UTC';
      expect(ctime(new Date(Date.UTC(2026, 10, 26, 16, 13, 59)))).toBe('Thu Nov 26 16:13:59 2026');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

/** A certificate made by openssl with every extension OpenSSL can print that certmid formats. */
const KITCHEN_SINK = `
subjectAltName = DNS:a.example, IP:10.1.2.3, IP:fe80::1:0:0:abcd, email:x@a.example, URI:ldap://a.example/x
basicConstraints = critical, CA:TRUE, pathlen:3
keyUsage = digitalSignature, keyCertSign, cRLSign, encipherOnly, keyAgreement
extendedKeyUsage = serverAuth, 1.2.3.4.5, msSmartcardLogin
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always, issuer:always
issuerAltName = DNS:ian.example, email:ca@example.com
crlDistributionPoints = URI:http://a.example/one.crl, URI:http://a.example/two.crl
freshestCRL = URI:http://a.example/delta.crl
authorityInfoAccess = OCSP;URI:http://ocsp.example, caIssuers;URI:http://a.example/ca.crt
subjectInfoAccess = caRepository;URI:http://a.example/repo
certificatePolicies = 2.23.140.1.2.1, @policy
nameConstraints = permitted;DNS:.example.com, permitted;email:example.com, excluded;IP:10.0.0.0/255.0.0.0, excluded;IP:2001:db8::/ffff:ffff::
policyConstraints = requireExplicitPolicy:1, inhibitPolicyMapping:2
inhibitAnyPolicy = 0
tlsfeature = status_request
nsCertType = server, client, email, objsign
nsComment = "made by openssl"
1.3.6.1.4.1.11129.2.4.2 = ASN1:FORMAT:HEX,OCTETSTRING:${sctList()}
[policy]
policyIdentifier = 1.3.6.1.4.1.44947.1.1.1
CPS.1 = "http://cps.example"
userNotice.1 = @notice
[notice]
explicitText = "Be nice"
organization = "Example Org"
noticeNumbers = 1, 2
`;

/** A TLS-encoded SignedCertificateTimestampList with one v1 ECDSA SCT (RFC 6962 §3.3). */
function sctList(): string {
  const logId = Buffer.alloc(32, 0xa5);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(1_700_000_000_123n);
  const signature = Buffer.alloc(40, 0x3c);
  const sct = Buffer.concat([Buffer.from([0]), logId, timestamp, Buffer.from([0, 0, 4, 3, 0, signature.length]), signature]);
  const entry = Buffer.concat([Buffer.from([0, sct.length]), sct]);
  return Buffer.concat([Buffer.from([0, entry.length]), entry]).toString('hex');
}

describe('parseCertificate on openssl-made certificates', () => {
  it('gives every extension the text openssl prints, and pyOpenSSL keys', async () => {
    const config = `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${KITCHEN_SINK}`;
    const pem = await withFiles({ 'ext.cnf': config }, async (paths) => {
      const args = ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null'];
      args.push('-subj', '/CN=sink', '-days', '5', '-config', paths['ext.cnf']!, '-extensions', 'v3');
      return (await opensslOk(args)).stdout;
    });
    const details = parseCertificate(pem);
    const expected = opensslExtensions(await x509Text(pem));
    expect(Object.keys(details.extensions)).toEqual([
      'SubjectAltName',
      'BasicConstraints',
      'KeyUsage',
      'ExtendedKeyUsage',
      'SubjectKeyIdentifier',
      'AuthorityKeyIdentifier',
      'IssuerAltName',
      'CrlDistributionPoints',
      'FreshestCRL',
      'AuthorityInfoAccess',
      'SubjectInfoAccess',
      'CertificatePolicies',
      'NameConstraints',
      'PolicyConstraints',
      'InhibitAnyPolicy',
      'Tlsfeature',
      'NsCertType',
      'NsComment',
      'Ct_precert_scts',
    ]);
    expect(Object.values(details.extensions)).toEqual(expected.map((ext) => ext.value));
    expect(details.is_ca).toBe(true);
    expect(details.path_length).toBe(3);
  });

  it('prints CRL distribution point reasons and issuers, and non-DNS SAN entries, as pyOpenSSL does', async () => {
    const config = [
      '[req]', 'distinguished_name = dn', '[dn]', '[v3]',
      'crlDistributionPoints = dp1, dp2',
      'subjectAltName = DNS:x.example, dirName:dir_sect, RID:1.2.3.4, otherName:msUPN;UTF8:u@x, otherName:1.2.3.4;UTF8:hi',
      '[dp1]', 'fullname = URI:http://a.example/one.crl', 'reasons = keyCompromise, CACompromise', 'CRLissuer = dirName:issuer_sect',
      '[dp2]', 'fullname = URI:http://a.example/two.crl',
      '[dir_sect]', 'CN = "a, b"', 'O = "#x"',
      '[issuer_sect]', 'CN = Issuer',
    ].join('\n');
    const pem = await withFiles({ 'ext.cnf': config }, async (paths) => {
      const args = ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null'];
      args.push('-subj', '/CN=x', '-days', '2', '-config', paths['ext.cnf']!, '-extensions', 'v3');
      return (await opensslOk(args)).stdout;
    });
    const details = parseCertificate(pem);
    const [crlDp] = opensslExtensions(await x509Text(pem));
    // OpenSSL prints the Reasons header with the extension's indent right after the last name, no newline.
    expect(details.extensions.CrlDistributionPoints).toBe(crlDp?.value.replace(/ {16}Reasons:/, 'Reasons:'));
    expect(details.extensions.CrlDistributionPoints).toBe(
      'Full Name:\n  URI:http://a.example/one.crlReasons:\n  Key Compromise, CA Compromise\nCRL Issuer:\n  DirName:CN = Issuer\nFull Name:\n  URI:http://a.example/two.crl',
    );
    // GENERAL_NAME_print, not the `openssl x509 -text` form ("DirName:/CN=a, b/O=#x", "othername: UPN::u@x").
    expect(details.extensions.SubjectAltName).toBe(
      'DNS:x.example, DirName:CN = "a, b", O = "#x", Registered ID:1.2.3.4, othername:UPN:u@x, othername:<unsupported>',
    );
  });

  it('computes subject_name_hash as openssl does for case, spacing, UTF-8 and multi-valued RDNs', async () => {
    const subjects = [
      '/CN=  Mixed   CASE  Name /O=Ünïcödé Org/OU=a+OU=b/C=DE',
      '/DC=com/DC=Example/UID=jdoe/CN=J\\, Doe',
      '/serialNumber=123/2.5.4.45=#030100/CN=x',
      '/',
    ];
    for (const subject of subjects) {
      const pem = (await opensslOk(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', subject, '-utf8', '-multivalue-rdn', '-days', '1']))
        .stdout;
      expect(parseCertificate(pem).subject_name_hash, subject).toBe(await x509Hash(pem));
    }
  });

  it('builds the TrueNAS DN from attributes with OpenSSL short names, first value per type', async () => {
    const pem = (await opensslOk(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/C=US/O=iXsystems/CN=localhost/OU=one/OU=two/1.2.3.4=custom/emailAddress=info@ixsystems.com', '-days', '1']))
      .stdout;
    const details = parseCertificate(pem);
    expect(details.DN).toBe('/C=US/O=iXsystems/CN=localhost/OU=one/OU=one/emailAddress=info@ixsystems.com');
    expect(details.organizational_unit).toBe('one');
    expect(details.san).toEqual([]);
  });
});

describe('createCsr', () => {
  it('creates a CSR openssl req -verify accepts, requesting SAN and the enabled extensions only', async () => {
    const key = await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 });
    const extensions = leafExtensions();
    const pem = await createCsr({ subject: { common: 'csr.example', country: 'US' }, san: parseSan(['csr.example', '192.0.2.1']), privateKey: key, digest: 'SHA512', extensions });
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const { ok, text } = await reqVerify(pem);
    expect(ok).toBe(true);
    expect(text).toContain('Subject: CN = csr.example, C = US');
    expect(text).toContain('Signature Algorithm: sha512WithRSAEncryption');
    expect(opensslExtensions(text).map((ext) => [ext.title, ext.critical, ext.value])).toEqual([
      ['X509v3 Subject Alternative Name', false, 'DNS:csr.example, IP Address:192.0.2.1'],
      ['X509v3 Basic Constraints', false, 'CA:FALSE'],
      ['X509v3 Extended Key Usage', true, expect.stringContaining('TLS Web Server Authentication')],
      ['X509v3 Key Usage', true, 'Digital Signature, Non Repudiation, Key Encipherment, Key Agreement, Decipher Only'],
    ]);
  });

  it('signs CSRs with EC and Ed25519 keys', async () => {
    for (const spec of [{ keyType: 'EC', curve: 'SECP521R1' }, { keyType: 'EC', curve: 'ed25519' }] as const) {
      const pem = await createCsr({ subject: { common: 'x' }, san: [], privateKey: await generatePrivateKey(spec), digest: 'SHA224', extensions: defaultExtensions() });
      expect((await reqVerify(pem)).ok, spec.curve).toBe(true);
    }
  });
});

describe('parseCsr', () => {
  it('reads an openssl-made CSR with its requested extensions', async () => {
    const key = (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
    const pem = await withFiles({ 'key.pem': key }, async (paths) => {
      const args = ['req', '-new', '-key', paths['key.pem']!, '-subj', '/CN=req.example/O=Org'];
      args.push('-addext', 'subjectAltName=DNS:req.example,IP:::1', '-addext', 'keyUsage=critical,digitalSignature');
      return (await opensslOk(args)).stdout;
    });
    const details = parseCsr(pem);
    expect(details).toMatchObject({
      common: 'req.example',
      organization: 'Org',
      san: ['DNS:req.example', 'IP Address:0:0:0:0:0:0:0:1'],
      DN: '/CN=req.example/O=Org/subjectAltName=DNS:req.example, IP Address:0:0:0:0:0:0:0:1',
      subject_name_hash: null,
      extensions: { SubjectAltName: 'DNS:req.example, IP Address:0:0:0:0:0:0:0:1', KeyUsage: 'Digital Signature' },
      signature_valid: true,
    });
    expect(publicKeysEqual(details.public_key, loadPrivateKey(key))).toBe(true);
  });

  it('flags a CSR whose signature does not verify', async () => {
    const pem = await createCsr({ subject: { common: 'tamper' }, san: [], privateKey: await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' }), digest: 'SHA256', extensions: defaultExtensions() });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.indexOf(Buffer.from('tamper')) + 1] = 0x41; // 'tAmper'
    expect(parseCsr(der).signature_valid).toBe(false);
    expect(parseCsr(der).common).toBe('tAmper');
  });

  it('throws CertificateParseError on garbage', () => {
    expect(() => parseCsr('nope')).toThrow(CertificateParseError);
  });
});
