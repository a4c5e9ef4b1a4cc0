import { describe, expect, it } from 'vitest';
import { opensslExtensions, opensslOk, withFiles, x509Text } from '../../test/helpers/openssl.js';
import { certificateDer } from './certificates.js';
import { CertificateParts, EncodedName, parseExact } from './asn1.js';
import { encodeSubject, encodedSubject, opensslOneline, opensslOnelineEx, readName, subjectFields, subjectNameHash, truenasDn } from './subject.js';

/** A self-signed openssl certificate with `subject` and an AKI carrying its DirName. */
async function opensslCertificate(subject: string): Promise<string> {
  const config = '[req]\ndistinguished_name = dn\n[dn]\n[v3]\nauthorityKeyIdentifier = keyid:always, issuer:always\n';
  return withFiles({ 'req.cnf': config }, async (paths) => {
    const args = ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null'];
    args.push('-subj', subject, '-utf8', '-multivalue-rdn', '-days', '1', '-config', paths['req.cnf']!, '-extensions', 'v3');
    return (await opensslOk(args)).stdout;
  });
}

function subjectOf(pem: string): EncodedName {
  return parseExact(certificateDer(pem), CertificateParts).tbsCertificate.subject;
}

const TRICKY = '/CN=a\\/b\\+c/O=é, Ltd/OU=x+OU=y/L=q"uo\\\\te/street= lead/2.5.4.45=#030100';

describe('encodeSubject', () => {
  it('builds the Name in TrueNAS order and skips empty fields', () => {
    const name = parseExact(encodeSubject({ email: 'e@x', country: 'US', common: 'cn', state: '', city: null, organization: 'O' }), EncodedName);
    expect(readName(name).map((entry) => entry.text)).toEqual(['cn', 'US', 'O', 'e@x']);
    expect(subjectFields(readName(name))).toEqual({
      common: 'cn',
      country: 'US',
      state: null,
      city: null,
      organization: 'O',
      organizational_unit: null,
      email: 'e@x',
    });
  });
});

describe('encodedSubject', () => {
  it('gives what reading the encoded subject back gives, value encodings included', () => {
    const subjects = [
      { common: 'cn', country: 'US', state: 'TN', city: 'Knoxville', organization: 'iX', organizational_unit: 'QA', email: 'qa@example.com' },
      { common: 'Ünïcödé 中文 🚀', country: 'ÄB', email: 'josé@exämple.com' },
      { organization: '  spaced  ', country: 'u_', state: '', city: null },
      {},
    ];
    for (const subject of subjects) {
      expect(encodedSubject(subject).entries).toEqual(readName(parseExact(encodeSubject(subject), EncodedName)));
    }
  });
});

describe('opensslOneline', () => {
  it('matches the DirName openssl prints in AuthorityKeyIdentifier', async () => {
    const pem = await opensslCertificate(TRICKY);
    const aki = opensslExtensions(await x509Text(pem)).find((ext) => ext.title === 'X509v3 Authority Key Identifier');
    const dirName = aki?.value.split('\n').find((line) => line.startsWith('DirName:'));
    expect(`DirName:${opensslOneline(readName(subjectOf(pem)))}`).toBe(dirName);
  });

  it('drops attributes that would exceed 255 characters, as OpenSSL does', () => {
    const name = parseExact(encodeSubject({ common: 'c'.repeat(200), organization: 'o'.repeat(60), email: 'e@x' }), EncodedName);
    expect(opensslOneline(readName(name))).toBe(`/CN=${'c'.repeat(200)}`);
  });
});

describe('opensslOnelineEx', () => {
  it('matches openssl -nameopt oneline', async () => {
    const pem = await opensslCertificate(TRICKY);
    const { stdout } = await opensslOk(['x509', '-noout', '-subject', '-nameopt', 'oneline'], pem);
    expect(`subject=${opensslOnelineEx(readName(subjectOf(pem)))}`).toBe(stdout.trim());
  });
});

describe('truenasDn and subjectNameHash', () => {
  it('follow pyOpenSSL and openssl -hash for an unusual subject', async () => {
    const pem = await opensslCertificate(TRICKY);
    const entries = readName(subjectOf(pem));
    expect(truenasDn(entries)).toBe('/CN=a/b+c/O=é, Ltd/OU=x/OU=x/L=q"uo\\te/street= lead/x500UniqueIdentifier=#030100');
    const hash = parseInt((await opensslOk(['x509', '-noout', '-hash'], pem)).stdout.trim(), 16);
    expect(subjectNameHash(subjectOf(pem))).toBe(hash);
  });
});
