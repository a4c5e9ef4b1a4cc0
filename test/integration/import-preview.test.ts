/**
 * certificate.import_preview: what an import would bring in, read from openssl-made input (PEM with
 * its chain, an encrypted key, base64 DER, PKCS#12), compared with openssl's own reading, with
 * nothing saved; unreadable input is a validation error naming the attribute.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { opensslOk, withFiles } from '../helpers/openssl.js';
import { adminClient, validationErrorsOf } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Material {
  caPem: string;
  leafPem: string;
  keyPem: string;
  encryptedKeyPem: string;
  otherKeyPem: string;
  pkcs12Base64: string;
}

/** A CA, a leaf it signed with two SANs, the leaf's key plain and AES-encrypted, another key, and a PKCS#12 of it all. */
async function opensslMaterial(): Promise<Material> {
  return withFiles({ 'ext.cnf': 'subjectAltName=DNS:nas.example.test,IP:192.0.2.7\n' }, async (files, dir) => {
    const at = (name: string) => path.join(dir, name);
    await opensslOk(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '30', '-subj', '/CN=Preview CA/O=Preview']);
    await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('leaf.key')]);
    await opensslOk(['req', '-new', '-key', at('leaf.key'), '-subj', '/CN=nas.example.test/O=Home', '-out', at('leaf.csr')]);
    await opensslOk(['x509', '-req', '-in', at('leaf.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-set_serial', '0x1F2E3D', '-days', '20', '-extfile', files['ext.cnf']!, '-out', at('leaf.pem')]);
    await opensslOk(['pkey', '-in', at('leaf.key'), '-aes256', '-passout', 'pass:open sesame', '-out', at('leaf.enc.key')]);
    await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('other.key')]);
    await opensslOk(['pkcs12', '-export', '-in', at('leaf.pem'), '-inkey', at('leaf.key'), '-certfile', at('ca.pem'), '-passout', 'pass:bundle-pass', '-out', at('bundle.p12')]);
    const read = (name: string) => fs.readFileSync(at(name), 'utf8');
    return {
      caPem: read('ca.pem'),
      leafPem: read('leaf.pem'),
      keyPem: read('leaf.key'),
      encryptedKeyPem: read('leaf.enc.key'),
      otherKeyPem: read('other.key'),
      pkcs12Base64: fs.readFileSync(at('bundle.p12')).toString('base64'),
    };
  });
}

describe('certificate.import_preview', () => {
  let server: TestServer;
  let admin: CertmidClient;
  let material: Material;
  const preview = (input: Record<string, unknown>) => admin.call<Record<string, any>>('certificate.import_preview', input);

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
    material = await opensslMaterial();
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('describes a PEM leaf with its chain and an encrypted key, as openssl reads them', async () => {
    const before = await admin.call<number>('certificate.query', [], { count: true });
    const result = await preview({ certificate: material.leafPem + material.caPem, privatekey: material.encryptedKeyPem, passphrase: 'open sesame' });
    const serial = (await opensslOk(['x509', '-noout', '-serial'], material.leafPem)).stdout.trim().replace('serial=', '');
    expect(result.format).toBe('PEM');
    expect(result.certificates).toHaveLength(2);
    expect(result.certificates[0]).toMatchObject({
      subject: 'CN=nas.example.test, O=Home',
      issuer: 'CN=Preview CA, O=Preview',
      self_signed: false,
      is_ca: false,
      expired: false,
      san: ['DNS:nas.example.test', 'IP Address:192.0.2.7'],
      serial_hex: serial,
      serial: String(0x1f2e3d),
      key_type: 'EC',
      key_length: 256,
    });
    const fingerprint = (await opensslOk(['x509', '-noout', '-fingerprint', '-sha256'], material.leafPem)).stdout.trim().split('=')[1];
    expect(result.certificates[0].fingerprint_sha256).toBe(fingerprint);
    const enddate = new Date((await opensslOk(['x509', '-noout', '-enddate'], material.leafPem)).stdout.trim().split('=')[1]!);
    expect(new Date(result.certificates[0].not_after).getTime()).toBe(enddate.getTime());
    expect(result.certificates[1]).toMatchObject({ subject: 'CN=Preview CA, O=Preview', self_signed: true, is_ca: true, key_type: 'RSA', key_length: 2048 });
    expect(result.private_key).toEqual({ key_type: 'EC', key_length: 256, matches_certificate: true, passphrase_opened: true });
    expect(await admin.call<number>('certificate.query', [], { count: true })).toBe(before);
  });

  it('says when the key does not belong to the certificate, and when no passphrase was needed', async () => {
    expect((await preview({ certificate: material.leafPem, privatekey: material.otherKeyPem, passphrase: 'unused' })).private_key).toEqual({
      key_type: 'EC',
      key_length: 256,
      matches_certificate: false,
      passphrase_opened: false,
    });
    expect((await preview({ certificate: material.leafPem })).private_key).toBeNull();
  });

  it('reads base64 DER and PKCS#12 bundles', async () => {
    const base64Der = (await opensslOk(['x509', '-outform', 'DER'], material.leafPem)).stdoutBuffer.toString('base64');
    expect(await preview({ certificate: base64Der })).toMatchObject({ format: 'DER', certificates: [{ subject: 'CN=nas.example.test, O=Home' }] });
    const bundle = await preview({ pkcs12: material.pkcs12Base64, passphrase: 'bundle-pass' });
    expect(bundle.format).toBe('PKCS12');
    expect(bundle.certificates.map((c: { subject: string }) => c.subject)).toEqual(['CN=nas.example.test, O=Home', 'CN=Preview CA, O=Preview']);
    expect(bundle.private_key).toMatchObject({ matches_certificate: true, passphrase_opened: true });
  });

  it('refuses what it cannot read, naming the attribute', async () => {
    expect(await validationErrorsOf(preview({ certificate: 'not a certificate' }))).toEqual([['certificate_import_preview.certificate', 'Not a valid certificate', 22]]);
    expect(await validationErrorsOf(preview({ certificate: material.leafPem, privatekey: material.encryptedKeyPem, passphrase: 'wrong' }))).toEqual([
      ['certificate_import_preview.privatekey', 'A valid private key is required, with a passphrase if one has been set.', 22],
    ]);
    expect((await validationErrorsOf(preview({ pkcs12: material.pkcs12Base64, passphrase: 'wrong' })))[0]![0]).toBe('certificate_import_preview.pkcs12');
    expect(await validationErrorsOf(preview({}))).toEqual([['certificate_import_preview.certificate', 'A certificate or a PKCS#12 bundle is required', 22]]);
  });
});
