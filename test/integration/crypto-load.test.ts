import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type Job } from '../../src/client/client.js';
import { openssl } from '../helpers/openssl.js';
import { adminClient, createRootCa, scratchDir, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Key generation once shared libuv's four threads with password hashing: a login queued behind
 * every key in the queue. 32 RSA-4096 keys are about 16 s of work on two idle cores (a loaded CI
 * machine takes longer), so a login that waited for them misses the bounds below by far.
 */
const RSA_JOBS = 32;
const LOGIN_BOUND_MS = 5000;
const PING_BOUND_MS = 2000;
const ABORT_BOUND_MS = 5000;
/** The first jobs run to the end, for openssl to judge their keys; the others are aborted. */
const KEPT_JOBS = 2;
const FINAL = new Set(['SUCCESS', 'FAILED', 'ABORTED']);

let server: TestServer;
let client: CertmidClient;
let root: Entry;
const jobs = new Map<number, Job>();
const jobListeners = new Set<() => void>();
let jobIds: number[] = [];
const scratch = scratchDir();

/** The first value `probe` returns (checked on every job event), failing after `timeoutMs`. */
function until<T>(probe: () => T | undefined, timeoutMs: number, failure: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const value = probe();
      if (value === undefined) return;
      jobListeners.delete(check);
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      jobListeners.delete(check);
      reject(new Error(`${failure()} within ${timeoutMs} ms`));
    }, timeoutMs);
    jobListeners.add(check);
    check();
  });
}

/** The job's record once `predicate` holds for it. */
function jobUntil(id: number, predicate: (job: Job) => boolean, timeoutMs: number): Promise<Job> {
  return until(
    () => {
      const job = jobs.get(id);
      return job && predicate(job) ? job : undefined;
    },
    timeoutMs,
    () => `job ${id} did not reach the expected state (last: ${jobs.get(id)?.state} ${jobs.get(id)?.error ?? ''})`,
  );
}

/** Calls side by side, 16 at a time: a connection may have at most 20 calls in flight, as on TrueNAS. */
async function inChunks<T, R>(items: readonly T[], call: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += 16) results.push(...(await Promise.all(items.slice(i, i + 16).map(call))));
  return results;
}

async function elapsed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

beforeAll(async () => {
  server = await startTestServer();
  client = await adminClient(server);
  root = await createRootCa(client, 'load-root', { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined });
  await client.subscribe<Job>('core.get_jobs', (event) => {
    if (event.id === undefined || !event.fields) return;
    jobs.set(Number(event.id), { ...jobs.get(Number(event.id)), ...event.fields } as Job);
    jobListeners.forEach((listener) => listener());
  });
  const start = (i: number) =>
    client.call<number>('certificate.create', {
      ...subjectParams({ key_length: 4096, common: `load-${i}.example` }),
      name: `load-${i}`,
      create_type: 'CERTIFICATE_CREATE_INTERNAL',
      signedby: root.id,
      san: [`load-${i}.example`],
    });
  jobIds = await inChunks(Array.from({ length: RSA_JOBS }, (_, i) => i), start);
  // Every job is past validation, so its key is being generated or waits for a thread.
  await Promise.all(jobIds.map((id) => jobUntil(id, (job) => job.progress.percent >= 10, 20_000)));
});

afterAll(async () => {
  // Whatever a failed test left running ends here rather than keeping the CPU busy.
  if (client) await inChunks(jobIds, (id) => client.call('core.job_abort', id).catch(() => undefined));
  await client?.close();
  await server?.close();
  scratch.remove();
});

describe('slow crypto never blocks logins', () => {
  it(`answers a password login on another connection within ${LOGIN_BOUND_MS / 1000} s while ${RSA_JOBS} RSA-4096 keys generate`, { timeout: 120_000 }, async () => {
    const other = await CertmidClient.connect(server.url, { WebSocket });
    try {
      const login = await elapsed(() => other.login(server.admin.username, server.admin.password));
      const ping = await elapsed(() => other.call<string>('core.ping'));
      expect(ping.value).toBe('pong');
      expect(login.ms).toBeLessThan(LOGIN_BOUND_MS);
      expect(ping.ms).toBeLessThan(PING_BOUND_MS);
      // Still under load: the keys are not all done, so the measurement above was taken under it.
      expect(jobIds.filter((id) => !FINAL.has(jobs.get(id)!.state)).length).toBeGreaterThan(RSA_JOBS / 2);
    } finally {
      await other.close();
    }
  });

  it(`ends aborted key-generating jobs within ${ABORT_BOUND_MS / 1000} s`, async () => {
    const pending = jobIds.slice(KEPT_JOBS).filter((id) => !FINAL.has(jobs.get(id)!.state));
    expect(pending.length).toBeGreaterThan(RSA_JOBS / 2);
    const started = performance.now();
    await inChunks(pending, (id) => client.call('core.job_abort', id));
    const ended = await Promise.all(pending.map((id) => jobUntil(id, (job) => FINAL.has(job.state), ABORT_BOUND_MS)));
    expect(performance.now() - started).toBeLessThan(ABORT_BOUND_MS);
    // A key done the instant its abort came may still be stored (at most one per key thread).
    expect(ended.filter((job) => job.state === 'ABORTED').length).toBeGreaterThan(pending.length - 4);
  });

  it('issues the jobs it was not told to abort, with 4096-bit keys that openssl checks and finds in the certificates', { timeout: 120_000 }, async () => {
    for (const id of jobIds.slice(0, KEPT_JOBS)) {
      const job = await jobUntil(id, (candidate) => FINAL.has(candidate.state), 120_000);
      expect(job.state, job.error ?? '').toBe('SUCCESS');
      const entry = job.result as Entry;
      expect(entry).toMatchObject({ key_type: 'RSA', key_length: 4096 });
      const check = await openssl(['pkey', '-check', '-noout'], entry.privatekey!);
      expect(check.code, check.stderr).toBe(0);
      const keyModulus = await openssl(['rsa', '-noout', '-modulus'], entry.privatekey!);
      const certificateModulus = await openssl(['x509', '-noout', '-modulus'], entry.certificate!);
      expect(keyModulus.stdout).toMatch(/^Modulus=[0-9A-F]{1024}\n$/);
      expect(keyModulus.stdout).toBe(certificateModulus.stdout);
      const verify = await openssl(['verify', '-CAfile', scratch.file('root.pem', root.certificate!)], entry.certificate!);
      expect(verify.stdout).toContain('OK');
    }
    // Aborted jobs stored nothing (but for one whose key was done as its abort came).
    const succeeded = jobIds.filter((id) => jobs.get(id)!.state === 'SUCCESS').length;
    const stored = await client.call<number>('certificate.query', [['name', '^', 'load-']], { count: true });
    expect(stored).toBeGreaterThanOrEqual(succeeded);
    expect(stored).toBeLessThanOrEqual(succeeded + 4);
  });
});
