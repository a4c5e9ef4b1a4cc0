/**
 * `npm run bench`: the middleware's overhead, as ratios against the same work done directly.
 *  1. Internal certificate issuance: certificate.create jobs over one WebSocket, several in flight,
 *     against key generation and signing called in-process.
 *  2. certificate.query over 10,000 stored certificates (full list, and get by id) against
 *     reading the same rows straight from the database.
 */
import 'reflect-metadata';
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { CertmidClient } from '../src/client/client.js';
import { CertificateEntity } from '../src/certs/entities.js';
import { loadConfig } from '../src/config.js';
import { issueCertificate } from '../src/crypto/certificates.js';
import { defaultExtensions } from '../src/crypto/extensions.js';
import { generatePrivateKey, loadPrivateKey, type KeySpec } from '../src/crypto/keys.js';
import { startDaemon } from '../src/daemon.js';
import { createLogger } from '../src/logger.js';

const IN_FLIGHT = 8;
const ISSUANCE_RUNS: Array<{ label: string; count: number; spec: KeySpec; fields: Record<string, unknown> }> = [
  { label: 'EC P-256', count: 300, spec: { keyType: 'EC', curve: 'SECP256R1' }, fields: { key_type: 'EC', ec_curve: 'SECP256R1' } },
  { label: 'RSA-2048', count: 200, spec: { keyType: 'RSA', keyLength: 2048 }, fields: { key_type: 'RSA', key_length: 2048 } },
];
const STORED_CERTIFICATES = 10_000;
const GETS = 500;

/** Runs `task(i)` for i < count with at most `limit` in flight. */
async function pool(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return performance.now() - started;
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

/** The full list is large (each entry nests its CA entry, as TrueNAS's does): lift ws's 100 MiB cap. */
class LargeMessageWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { maxPayload: 2 ** 30 });
  }
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-bench-'));
const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ADMIN_PASSWORD: 'bench-password', LOG_LEVEL: 'warn' });
const daemon = await startDaemon(config, createLogger('warn'));
const client = await CertmidClient.connect(daemon.url, { WebSocket: LargeMessageWebSocket });
await client.login('admin', 'bench-password');
const subject = { country: 'US', state: 'TN', city: 'Knoxville', organization: 'Bench', email: 'bench@example.com', lifetime: 397, digest_algorithm: 'SHA256' };
const ca = await client.call<{ id: number; certificate: string; privatekey: string }>('certificateauthority.create', {
  ...subject,
  name: 'bench-root',
  create_type: 'CA_CREATE_INTERNAL',
  key_type: 'EC',
  ec_curve: 'SECP256R1',
  san: ['bench.example'],
});
const caKey = loadPrivateKey(ca.privatekey);

console.log(`certmid benchmark (Node ${process.version}, ${os.cpus().length} cores), ${IN_FLIGHT} in flight\n`);
console.log('1. internal certificate issuance');
for (const run of ISSUANCE_RUNS) {
  const direct = await pool(run.count, IN_FLIGHT, async (i) => {
    const key = await generatePrivateKey(run.spec);
    await issueCertificate({
      subject: { common: `direct-${i}`, ...subject },
      san: [{ type: 'DNS', value: `direct-${i}.example` }],
      publicKey: createPublicKey(key),
      signer: { privateKey: caKey, certificatePem: ca.certificate },
      serial: BigInt(1_000_000 + i),
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 397 * 86_400_000),
      digest: 'SHA256',
      extensions: defaultExtensions(),
    });
  });
  const tag = run.label.replace(/\W+/g, '-').toLowerCase();
  const api = await pool(run.count, IN_FLIGHT, (i) =>
    client.callJob('certificate.create', [
      { ...subject, ...run.fields, name: `api-${tag}-${i}`, common: `api-${i}`, san: [`api-${i}.example`], create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: ca.id },
    ]),
  );
  console.log(
    `   ${run.label.padEnd(9)} ${run.count} certificates: direct ${fmt(direct)} (${(run.count / (direct / 1000)).toFixed(0)}/s), ` +
      `API ${fmt(api)} (${(run.count / (api / 1000)).toFixed(0)}/s), API/direct = ${(api / direct).toFixed(2)}`,
  );
}

// Fill the table to 10,000 rows by copying stored certificates under new names (what query reads
// does not depend on the PEM being unique).
const repository = daemon.app.db.getRepository(CertificateEntity);
const templates = await repository.find({ take: 50 });
const missing = STORED_CERTIFICATES - (await repository.count());
for (let offset = 0; offset < missing; offset += 500) {
  const batch = Array.from({ length: Math.min(500, missing - offset) }, (_, j) => {
    const { id: _id, ...template } = templates[(offset + j) % templates.length]!;
    return { ...template, name: `copy-${offset + j}` };
  });
  await repository.insert(batch as never);
}
const ids = (await repository.find({ select: { id: true } })).map((row) => row.id);
// Rows written behind the API's back: announce them as the API would, so cached CA data is fresh.
await daemon.app.events.publish({ collection: 'certificate.query', msg: 'added', id: ids.at(-1)! });

console.log(`\n2. certificate.query over ${ids.length} certificates`);
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
let started = performance.now();
const all = await client.call<unknown[]>('certificate.query');
const apiList = performance.now() - started;
const responseBytes = Buffer.byteLength(JSON.stringify(all));
const heapAfter = process.memoryUsage().heapUsed;
started = performance.now();
const rows = await repository.find();
const dbList = performance.now() - started;
console.log(`   full list: API ${fmt(apiList)} (${all.length} entries, ${mib(responseBytes)} of JSON, heap +${mib(Math.max(0, heapAfter - heapBefore))}), database ${fmt(dbList)} (${rows.length} rows), API/database = ${(apiList / dbList).toFixed(2)}`);

const sample = Array.from({ length: GETS }, (_, i) => ids[(i * 7919) % ids.length]!);
started = performance.now();
for (const id of sample) await client.call('certificate.get_instance', id);
const apiGet = (performance.now() - started) / GETS;
started = performance.now();
for (const id of sample) await repository.findOneBy({ id });
const dbGet = (performance.now() - started) / GETS;
console.log(`   get by id: API ${(apiGet * 1000).toFixed(0)} µs, database ${(dbGet * 1000).toFixed(0)} µs, API/database = ${(apiGet / dbGet).toFixed(2)}`);
console.log(`   resident memory after the run: ${mib(process.memoryUsage().rss)}`);

await client.close();
await daemon.stop();
fs.rmSync(dataDir, { recursive: true, force: true });
