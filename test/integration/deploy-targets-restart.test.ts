/**
 * A target that fell due while no daemon was listening (no event will come) is deployed when a
 * daemon starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { targetWhen, type Target } from '../helpers/deploy-targets.js';
import { opensslOk, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };

describe('deploy targets across a restart', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-deploy-restart-'));
  const env = { MASTER_KEY: Buffer.alloc(32, 3).toString('base64'), ADMIN_PASSWORD: 'restart-admin-password' };
  let server: TestServer | undefined;

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('deploys at start what fell due while no daemon ran', async () => {
    server = await startTestServer({ env, dataDir });
    let client = await adminClient(server);
    const ca = await createRootCa(client, 'restart-root', EC);
    const cert = await createInternalCertificate(client, 'restart-cert', ca.id, EC);
    const file = path.join(dataDir, 'deployed.pem');
    const target = await client.call<Target>('certificate.deploy_target.create', { name: 'restart', certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: file } });
    await client.close();
    await server.close();
    // Enabled while no daemon runs, so that no event announces it.
    const database = new Database(path.join(dataDir, 'certmid.db'));
    try {
      database.prepare('UPDATE deploy_target SET enabled = 1 WHERE id = ?').run(target.id);
    } finally {
      database.close();
    }
    expect(fs.existsSync(file)).toBe(false);

    server = await startTestServer({ env, dataDir });
    client = await adminClient(server);
    const serial = opensslSerial(BigInt(String(cert.serial)));
    await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED' && t.last_serial === serial, 'deployed at start');
    expect((await opensslOk(['x509', '-in', file, '-noout', '-serial'])).stdout.trim()).toBe(`serial=${serial}`);
    await client.close();
  });
});
