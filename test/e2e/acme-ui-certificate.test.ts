/**
 * An ACME certificate for the daemon's own name, end to end against Pebble and BIND: issued through
 * certificate.create, made the UI certificate through system.general.update, renewed by
 * certificate.renew_certs; `openssl s_client`, trusting only Pebble's root and checking the name,
 * sees the issued and then the renewed certificate on the HTTPS port without a restart, while a
 * wss:// session opened before the renewal goes on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { type ClientOptions } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { acmeToolsAvailable, startBind, startPebble, type BindServer, type PebbleServer } from '../helpers/acme-harness.js';
import { openssl, opensslOk, withFiles } from '../helpers/openssl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Entry = Record<string, any>;

/** Pebble's certificates live 20 days: due for renewal with renew_days 30. */
const VALIDITY_DAYS = 20;

describe.runIf(await acmeToolsAvailable())("an ACME certificate for the daemon's own name", () => {
  let bind: BindServer;
  let pebble: PebbleServer;
  let pebbleRoot: string;
  let server: TestServer;
  let admin: CertmidClient;
  let hostname: string;
  let certificate: Entry;

  /** What openssl sees on a fresh connection, trusting Pebble's root alone and checking the daemon's name. */
  async function verified(): Promise<{ verified: boolean; serial: string | null }> {
    return withFiles({ 'root.pem': pebbleRoot }, async (paths) => {
      const run = await openssl(
        ['s_client', '-connect', `127.0.0.1:${server.daemon.httpsPort}`, '-servername', hostname, '-verify_hostname', hostname, '-CAfile', paths['root.pem']!, '-verify_return_error'],
        '',
      );
      const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
      return { verified: run.code === 0 && run.stdout.includes('Verify return code: 0 (ok)'), serial: leaf ? await serialOf(leaf) : null };
    });
  }

  async function serialOf(pem: string): Promise<string> {
    return (await opensslOk(['x509', '-noout', '-serial'], pem)).stdout.trim().replace(/^serial=/, '');
  }

  /** A session over wss:// that verifies the daemon's certificate against Pebble's root, by name. */
  async function trustingSession(): Promise<CertmidClient> {
    const ca = pebbleRoot;
    const name = hostname;
    class Trusting extends WebSocket {
      constructor(url: string) {
        super(url, { ca, servername: name } as ClientOptions);
      }
    }
    const client = await CertmidClient.connect(`wss://127.0.0.1:${server.daemon.httpsPort}/api/current`, { WebSocket: Trusting as unknown as WebSocketConstructor });
    await client.login(server.admin.username, server.admin.password);
    return client;
  }

  beforeAll(async () => {
    bind = await startBind();
    pebble = await startPebble({ dnsServer: bind.address, certificateValidityPeriod: VALIDITY_DAYS * 86_400 });
    pebbleRoot = await pebble.rootCertificatePem();
    hostname = `certmid.${bind.zone}`;
    server = await startTestServer({ env: { HTTPS_PORT: '0' } });
    admin = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 60_000 });
    await admin.login(server.admin.username, server.admin.password);
    await admin.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
    await pebble?.stop();
    await bind?.stop();
  });

  it('is issued, becomes the UI certificate, and HTTPS presents it, verified by name against the ACME root', async () => {
    const authenticator = await admin.call<Entry>('acme.dns.authenticator.create', {
      name: 'bind',
      attributes: { authenticator: 'rfc2136', nameserver: bind.host, port: bind.port, tsig_key_name: bind.tsig.name, tsig_algorithm: bind.tsig.algorithm, tsig_secret: bind.tsig.secret },
      propagation: { mode: 'check', timeout: 20 },
    });
    const csr = await admin.callJob<Entry>('certificate.create', [
      { name: 'own-name-csr', create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC', ec_curve: 'SECP256R1', country: 'US', state: 'TN', city: 'Knoxville', organization: 'certmid', email: 'ops@example.test', common: hostname, san: [hostname] },
    ]);
    certificate = await admin.callJob<Entry>('certificate.create', [
      { name: 'own-name', create_type: 'CERTIFICATE_CREATE_ACME', csr_id: csr.id, tos: true, acme_directory_uri: pebble.directoryUrl, dns_mapping: { [hostname]: authenticator.id }, renew_days: 30 },
    ]);
    // Before: the self-signed default, which no ACME root vouches for.
    expect((await verified()).verified).toBe(false);

    const settings = await admin.call<Entry>('system.general.update', { ui_certificate: certificate.id });
    expect(settings.ui_certificate).toMatchObject({ id: certificate.id, name: 'own-name', common: hostname });
    expect(await verified()).toEqual({ verified: true, serial: await serialOf(certificate.certificate) });
    expect(await admin.call<Entry>('certificate.get_instance', certificate.id)).toMatchObject({ used_by: [{ type: 'UI', name: 'UI Service' }] });
  });

  it('is renewed by certificate.renew_certs and the renewed one is presented at once, the open session going on', async () => {
    const session = await trustingSession();
    // Pebble's validity has one-second resolution: let the renewed notAfter differ.
    await sleep(1100);
    expect(await admin.callJob('certificate.renew_certs', [])).toEqual({ renewed: [certificate.id], failed: [] });
    const renewed = await admin.call<Entry>('certificate.get_instance', certificate.id);
    const serial = await serialOf(renewed.certificate);
    expect(serial).not.toBe(await serialOf(certificate.certificate));
    await expect.poll(verified, { timeout: 10_000 }).toEqual({ verified: true, serial });
    expect(await session.call('core.ping')).toBe('pong');
    await session.close();
    const fresh = await trustingSession();
    expect(await fresh.call('core.ping')).toBe('pong');
    await fresh.close();
  });

  it('is kept from deletion while HTTPS presents it', async () => {
    await expect(admin.callJob('certificate.delete', [certificate.id, true])).rejects.toMatchObject({
      job: { state: 'FAILED', error: '[EFAULT] Certificate is being used by following service(s):\n1) UI Service\n' },
    });
  });
});
