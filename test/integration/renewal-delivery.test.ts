/**
 * Issue to service, unattended: a certificate signed here renews itself and its deploy targets carry
 * the renewed one to another host over SSH (Debian's sshd) and into a second daemon through its
 * TrueNAS API, where it becomes that system's HTTPS certificate; openssl reads what landed, and the
 * version it replaced is superseded once both hold the new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { openssl, opensslOk } from '../helpers/openssl.js';
import { adminClient, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';

type Target = { id: number; last_serial: string | null; last_error: string | null };
const available = sshdAvailable();

async function serialOf(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-serial'], pem)).stdout.trim().replace(/^serial=/, '');
}

describe.runIf(available)('a renewed certificate reaches an SSH host and a second system', () => {
  let sshd: TestSshd;
  let local: TestServer;
  let remote: TestServer;
  let admin: CertmidClient;
  let remoteAdmin: CertmidClient;
  let leaf: Entry;
  let targets: Target[];

  const target = (id: number) => admin.call<Target>('certificate.deploy_target.get_instance', id);
  const landedSerials = async () => Promise.all(targets.map(async ({ id }) => (await target(id)).last_serial));
  const remoteUiSerial = async () => {
    const { ui_certificate } = await remoteAdmin.call<{ ui_certificate: { id: number } }>('system.general.config');
    return serialOf((await remoteAdmin.call<Entry>('certificate.get_instance', ui_certificate.id)).certificate!);
  };
  const servedSerial = async () => {
    const run = await openssl(['s_client', '-connect', `127.0.0.1:${remote.daemon.httpsPort}`, '-servername', 'localhost'], '');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
    return pem ? serialOf(pem) : null;
  };

  beforeAll(async () => {
    sshd = await startSshd();
    local = await startTestServer();
    remote = await startTestServer({ env: { HTTPS_PORT: '0' } });
    admin = await adminClient(local);
    remoteAdmin = await adminClient(remote);
    const apiKey = (await remoteAdmin.call<{ key: string }>('api_key.create', { name: 'deploys', username: remote.admin.username })).key;
    const ca = await createRootCa(admin, 'delivery-root');
    // Two days' lifetime and renew_days 2: due for renewal at once.
    leaf = await admin.callJob<Entry>('certificate.create', [
      { ...subjectParams({ common: 'localhost', san: ['localhost'] }), name: 'delivered', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: ca.id, lifetime: 2, renew_days: 2, auto_renew: true },
    ]);
    targets = [
      await admin.call<Target>('certificate.deploy_target.create', {
        name: 'web-host',
        certificate: leaf.id,
        kind: 'SSH',
        attributes: {
          host: sshd.host,
          port: sshd.port,
          username: sshd.username,
          private_key: sshd.clientKey,
          host_key: sshd.hostKeyLine,
          fullchain_path: path.join(sshd.dir, 'delivered-fullchain.pem'),
          private_key_path: path.join(sshd.dir, 'delivered-key.pem'),
          reload_command: `cat ${path.join(sshd.dir, 'delivered-fullchain.pem')} > ${path.join(sshd.dir, 'reloaded-with.pem')}`,
        },
      }),
      await admin.call<Target>('certificate.deploy_target.create', {
        name: 'second-system',
        certificate: leaf.id,
        kind: 'TRUENAS',
        attributes: { url: remote.url, username: remote.admin.username, api_key: apiKey, ui_certificate: true },
      }),
    ];
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await remoteAdmin?.close();
    await local?.close();
    await remote?.close();
    await sshd?.stop();
  });

  it('deploys the certificate when its targets are made, then the renewed one after certificate.renew_certs', async () => {
    const first = await serialOf(leaf.certificate!);
    await expect.poll(landedSerials, { timeout: 30_000 }).toEqual([first, first]);
    expect(await remoteUiSerial()).toBe(first);

    expect((await admin.callJob<{ renewed: number[] }>('certificate.renew_certs', [])).renewed).toContain(leaf.id);
    const renewed = await admin.call<Entry>('certificate.get_instance', leaf.id);
    const second = await serialOf(renewed.certificate!);
    expect(second).not.toBe(first);
    await expect.poll(landedSerials, { timeout: 30_000 }).toEqual([second, second]);

    // On the SSH host: the new chain and its key, and the reload command saw the new files.
    const fullchain = fs.readFileSync(path.join(sshd.dir, 'delivered-fullchain.pem'), 'utf8');
    expect(await serialOf(fullchain)).toBe(second);
    expect(await serialOf(fs.readFileSync(path.join(sshd.dir, 'reloaded-with.pem'), 'utf8'))).toBe(second);
    const publicKeyOfKey = (await opensslOk(['pkey', '-pubout'], fs.readFileSync(path.join(sshd.dir, 'delivered-key.pem'), 'utf8'))).stdout;
    expect((await opensslOk(['x509', '-noout', '-pubkey'], fullchain)).stdout).toBe(publicKeyOfKey);

    // On the second system: imported, made its UI certificate, and served on its HTTPS port.
    expect(await remoteUiSerial()).toBe(second);
    await expect.poll(servedSerial, { timeout: 15_000 }).toBe(second);

    // Held by both targets now: the version the renewal replaced is superseded.
    await expect.poll(async () => (await admin.call<Entry>('certificate.get_instance', leaf.id)).previous_versions, { timeout: 15_000 }).toMatchObject([
      { superseded: true },
    ]);
  });
});
