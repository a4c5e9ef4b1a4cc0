import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { CertificateAuthorityEntity, CertificateEntity, type CertificateRowBase } from '../../src/certs/entities.js';
import { outsidePki, parsedIssuerDn } from '../helpers/issuer-dn.js';
import { adminClient, createInternalCertificate, createIntermediateCa, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('the issuer DN stored with each certificate', () => {
  let server: TestServer;
  let admin: CertmidClient;

  const rows = async (): Promise<CertificateRowBase[]> => [
    ...(await server.daemon.app.db.getRepository(CertificateAuthorityEntity).find()),
    ...(await server.daemon.app.db.getRepository(CertificateEntity).find()),
  ];

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('is what parsing the certificate gives, for every way a certificate or CA is written', async () => {
    const root = await createRootCa(admin, 'dn-root', { common: 'Ünïcödé Root, "Q" + co', organization: 'Société <x>; #1' });
    const intermediate = await createIntermediateCa(admin, 'dn-intermediate', root.id);
    await createInternalCertificate(admin, 'dn-leaf', intermediate.id, { common: 'leaf 中文 🚀', key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined });
    const csr = await admin.callJob<Entry>('certificate.create', [{ ...subjectParams({ common: 'signed request' }), lifetime: undefined, name: 'dn-request', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    await admin.call('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: 'dn-signed-request', lifetime: 30 });
    const outside = await outsidePki();
    const importedCa = await admin.call<Entry>('certificateauthority.create', { name: 'dn-outside-ca', create_type: 'CA_CREATE_IMPORTED', certificate: outside.caPem, privatekey: outside.caKey });
    await createInternalCertificate(admin, 'dn-below-outside', importedCa.id);
    await admin.callJob('certificate.create', [{ name: 'dn-outside-chain', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: outside.leafPem + outside.caPem, privatekey: outside.leafKey }]);
    const renewing = await createInternalCertificate(admin, 'dn-renewed', root.id, { lifetime: 2, renew_days: 2, auto_renew: true });
    expect((await admin.callJob<{ renewed: number[] }>('certificate.renew_certs', [])).renewed).toContain(renewing.id);

    const written = (await rows()).filter((row) => row.certificate !== null);
    // Every writer, the default certificate's included, and the odd names among the issuers.
    expect(written.map((row) => row.name).sort()).toEqual(
      ['dn-below-outside', 'dn-intermediate', 'dn-leaf', 'dn-outside-ca', 'dn-outside-chain', 'dn-renewed', 'dn-root', 'dn-signed-request', 'truenas_default'].sort(),
    );
    expect(new Set(written.map((row) => row.details.issuer_dn))).toEqual(new Set(written.map((row) => parsedIssuerDn(row.certificate!))));
    for (const row of written) expect(row.details.issuer_dn, row.name).toBe(parsedIssuerDn(row.certificate!));
    expect(written.find((row) => row.name === 'dn-outside-chain')!.details.issuer_dn).toContain('/OU=Zwei Werte + O=Äußere GmbH/CN=Outside \\"Root\\"\\, CA \\+ co');
    // A CSR has no issuer.
    expect((await rows()).find((row) => row.name === 'dn-request')!.details.issuer_dn).toBeNull();
  });

  it('is what entries show, read from the row rather than parsed; a row written without it is parsed', async () => {
    const root = await createRootCa(admin, 'shown-root');
    const leaf = await createInternalCertificate(admin, 'shown-leaf', root.id);
    const repository = server.daemon.app.db.getRepository(CertificateEntity);
    const row = await repository.findOneByOrFail({ id: leaf.id });
    // Only a value read from the row can come out as this.
    await repository.update({ id: leaf.id }, { details: { ...row.details, issuer_dn: '/CN=as stored' } });
    expect((await admin.call<Entry>('certificate.get_instance', leaf.id)).issuer_dn).toBe('/CN=as stored');
    // The whole list (written page by page) and a filtered one.
    expect((await admin.call<Entry[]>('certificate.query')).find((entry) => entry.id === leaf.id)!.issuer_dn).toBe('/CN=as stored');
    expect((await admin.call<Entry[]>('certificate.query', [['id', '=', leaf.id]]))[0]!.issuer_dn).toBe('/CN=as stored');
    // As an older daemon writes it: no issuer DN among the details.
    const { issuer_dn: _dropped, ...older } = row.details;
    await repository.update({ id: leaf.id }, { details: older });
    expect((await admin.call<Entry>('certificate.get_instance', leaf.id)).issuer_dn).toBe(parsedIssuerDn(leaf.certificate!));
    expect((await admin.call<Entry>('certificate.get_instance', leaf.id)).issuer_dn).toBe('/CN=shown-root root/C=US/ST=TN/L=Knoxville/O=iX/OU=dev/emailAddress=dev@ix.com');
  });
});
