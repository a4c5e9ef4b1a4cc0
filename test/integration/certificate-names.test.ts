/**
 * Certificate and CA names against the database on SQLite and PostgreSQL: the 120-character
 * column (reference §7.1) and the unique index when creates or renames race each other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobError, RpcError, type CertmidClient } from '../../src/client/client.js';
import { adminClient, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends } from '../helpers/services.js';

type Triple = [string | null, string, number];
const EINVAL = 22;
const TOO_LONG = 'The value may not be longer than 120 characters';
const TAKEN = 'A certificate with this name already exists';

/** The validation triples of a failed call or job; anything else (an internal error) fails the test. */
async function validationOf(promise: Promise<unknown>): Promise<Triple[]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof JobError && error.job.exc_info?.type === 'VALIDATION') return error.job.exc_info.extra as Triple[];
    if (error instanceof RpcError && error.code === -32602) return error.data!.extra as Triple[];
    throw error;
  }
  throw new Error('expected a validation failure, but the call succeeded');
}

const backends = await databaseBackends();

describe.each(backends)('certificate and CA names on %s', (_backend, database, available) => {
  let server: TestServer;
  let client: CertmidClient;
  let drop: () => Promise<void> = async () => undefined;
  let root: Entry;
  let seq = 0;
  const uniq = (prefix: string) => `${prefix}-${++seq}`;

  const csrParams = (name: string) => ({ ...subjectParams({ lifetime: undefined }), key_type: 'EC', key_length: undefined, name, create_type: 'CERTIFICATE_CREATE_CSR' });
  const caParams = (name: string) => ({ ...subjectParams(), key_type: 'EC', key_length: undefined, name, create_type: 'CA_CREATE_INTERNAL' });
  const rowsNamed = async (method: string, name: string) => client.call<number>(method, [['name', '=', name]], { count: true });

  beforeAll(async () => {
    if (!available) return;
    const db = await database();
    drop = db.drop;
    server = await startTestServer({ env: db.env });
    client = await adminClient(server);
    root = await createRootCa(client, 'names-root', { key_type: 'EC', key_length: undefined });
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await drop();
  });

  describe.runIf(available)('length', () => {
    const long = 'n'.repeat(300);

    it('refuses a name past 120 characters on create, rename and signing, on the name attribute', async () => {
      expect(await validationOf(client.callJob('certificate.create', [csrParams(long)]))).toEqual([['certificate_create.name', TOO_LONG, EINVAL]]);
      expect(await validationOf(client.call('certificateauthority.create', caParams(long)))).toEqual([['ca_create.name', TOO_LONG, EINVAL]]);
      const csr = await client.callJob<Entry>('certificate.create', [csrParams(uniq('len-csr'))]);
      expect(await validationOf(client.callJob('certificate.update', [csr.id, { name: long }]))).toEqual([['certificate_update.name', TOO_LONG, EINVAL]]);
      expect(await validationOf(client.call('certificateauthority.update', root.id, { name: long }))).toEqual([['ca_update.name', TOO_LONG, EINVAL]]);
      expect(await validationOf(client.call('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: long }))).toEqual([['ca_sign_csr.name', TOO_LONG, EINVAL]]);
      expect(await client.call<number>('certificate.query', [['name', '=', long]], { count: true })).toBe(0);
    });

    it('takes exactly 120 characters', async () => {
      const name = 'c'.repeat(120);
      expect((await client.call<Entry>('certificateauthority.create', caParams(name))).name).toBe(name);
      const csr = await client.callJob<Entry>('certificate.create', [csrParams('s'.repeat(119) + 'x')]);
      expect((await client.callJob<Entry>('certificate.update', [csr.id, { name: 'r'.repeat(120) }])).name).toBe('r'.repeat(120));
    });
  });

  describe.runIf(available)('concurrent writes of one name', () => {
    /** Settles every call; the successes, and the validation triples of the failures (an internal error fails the test). */
    async function race(calls: Array<Promise<unknown>>): Promise<{ ok: number; errors: Triple[][] }> {
      const settled = await Promise.allSettled(calls);
      const errors: Triple[][] = [];
      for (const outcome of settled) if (outcome.status === 'rejected') errors.push(await validationOf(Promise.reject(outcome.reason)));
      return { ok: settled.filter((outcome) => outcome.status === 'fulfilled').length, errors };
    }

    it('creates one CA and refuses the others as "already exists", leaving nothing else behind', async () => {
      const before = await client.call<number>('certificateauthority.query', [], { count: true });
      const { ok, errors } = await race(Array.from({ length: 5 }, () => client.call('certificateauthority.create', caParams('dupca'))));
      expect(ok).toBe(1);
      expect(errors).toEqual(Array.from({ length: 4 }, () => [['certificate_authority_create.name', TAKEN, EINVAL]]));
      expect(await rowsNamed('certificateauthority.query', 'dupca')).toBe(1);
      expect(await client.call<number>('certificateauthority.query', [], { count: true })).toBe(before + 1);
    });

    it('signs one certificate of a name with ca_sign_csr and refuses the others', async () => {
      const csr = await client.callJob<Entry>('certificate.create', [csrParams(uniq('race-csr'))]);
      const before = await client.call<number>('certificate.query', [], { count: true });
      const { ok, errors } = await race(Array.from({ length: 5 }, () => client.call('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: 'dupsigned' })));
      expect(ok).toBe(1);
      expect(errors).toEqual(Array.from({ length: 4 }, () => [['certificate_authority_update.name', TAKEN, EINVAL]]));
      expect(await rowsNamed('certificate.query', 'dupsigned')).toBe(1);
      expect(await client.call<number>('certificate.query', [], { count: true })).toBe(before + 1);
    });

    it('renames one of two certificates to a name both want and refuses the other', async () => {
      const [a, b] = await Promise.all([client.callJob<Entry>('certificate.create', [csrParams(uniq('ren-a'))]), client.callJob<Entry>('certificate.create', [csrParams(uniq('ren-b'))])]);
      const { ok, errors } = await race([a, b].map((entry) => client.callJob('certificate.update', [entry.id, { name: 'duprename' }])));
      expect(ok).toBe(1);
      expect(errors).toEqual([[['certificate_update.name', TAKEN, EINVAL]]]);
      expect(await rowsNamed('certificate.query', 'duprename')).toBe(1);
    });

    it('renames one of two CAs to a name both want and refuses the other', async () => {
      const [a, b] = await Promise.all([client.call<Entry>('certificateauthority.create', caParams(uniq('ren-ca-a'))), client.call<Entry>('certificateauthority.create', caParams(uniq('ren-ca-b')))]);
      const { ok, errors } = await race([a, b].map((entry) => client.call('certificateauthority.update', entry.id, { name: 'dupcarename' })));
      expect(ok).toBe(1);
      expect(errors).toEqual([[['certificate_authority_update.name', TAKEN, EINVAL]]]);
      expect(await rowsNamed('certificateauthority.query', 'dupcarename')).toBe(1);
    });
  });
});
