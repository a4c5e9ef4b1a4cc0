import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { listeningUrl } from '../../src/public-url.js';
import { opensslOk } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dropQueuePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

describe('listeningUrl', () => {
  it('names the host name instead of a wildcard address', () => {
    expect(listeningUrl('0.0.0.0', 6000)).toBe(`http://${os.hostname()}:6000`);
    expect(listeningUrl('::', 6000)).toBe(`http://${os.hostname()}:6000`);
    expect(listeningUrl('::1', 6000)).toBe('http://[::1]:6000');
    expect(listeningUrl('127.0.0.1', 6443)).toBe('http://127.0.0.1:6443');
  });
});

describe.runIf(await redisAvailable())('a certificate issued by a separate worker', () => {
  const prefix = uniquePrefix();
  let server: TestServer;
  let worker: WorkerProcess;
  let client: CertmidClient;

  beforeAll(async () => {
    server = await startTestServer({ env: { REDIS_URL, QUEUE_PREFIX: prefix } });
    // The worker knows neither the daemon's host nor its port: only the shared database.
    worker = await spawnWorker({ REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: server.dataDir });
    client = await adminClient(server);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.close();
    await worker?.stop();
    await dropQueuePrefix(prefix);
  });

  it('links to the CRL and CA certificate the daemon serves', async () => {
    const root = await createRootCa(client, 'worker-root');
    const leaf = await createInternalCertificate(client, 'worker-leaf', root.id);
    const ca = await client.call<{ crl_url: string }>('certificateauthority.get_instance', root.id);
    expect(ca.crl_url).toBe(`http://127.0.0.1:${server.port}/crl/${root.id}.crl`);

    const text = (await opensslOk(['x509', '-noout', '-text'], leaf.certificate!)).stdout;
    expect(text).toContain(`URI:${ca.crl_url}`);
    expect(text).toContain(`CA Issuers - URI:http://127.0.0.1:${server.port}/ca/${root.id}.crt`);
    expect((await fetch(ca.crl_url)).status).toBe(200);
  });
});
