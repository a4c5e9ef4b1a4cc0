/**
 * Deploy targets through the API on SQLite and PostgreSQL: CRUD and validation, sealed secrets,
 * LOCAL files judged by openssl, reload commands and their failures with backoff, automatic runs
 * after create and after the certificate changes in place, use by certificates.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CertmidClient, JobError, RpcError } from '../../src/client/client.js';
import { DeployTargetEntity } from '../../src/deploy/entities.js';
import { linesOf, replaceInPlace, script, targetWhen, type Target } from '../helpers/deploy-targets.js';
import { openssl, opensslOk, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends } from '../helpers/services.js';

type Triple = [string | null, string, number];

async function validationOf(promise: Promise<unknown>): Promise<Triple[]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RpcError && error.code === -32602) return error.data!.extra as Triple[];
    if (error instanceof JobError && error.job.exc_info?.type === 'VALIDATION') return error.job.exc_info.extra as Triple[];
    throw error;
  }
  throw new Error('expected a validation failure, but the call succeeded');
}

const attributesOf = (triples: Triple[]) => triples.map(([attribute]) => attribute);
const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };
const RETRY_SECONDS = 1;

const backends = await databaseBackends();

describe.each(backends)('deploy targets on %s', (_backend, database, available) => {
  let server: TestServer;
  let client: CertmidClient;
  let drop: () => Promise<void> = async () => undefined;
  let scratch: string;
  let ca: Entry;
  let seq = 0;
  const uniq = (prefix: string) => `${prefix}-${++seq}`;
  const create = (data: Record<string, unknown>) => client.call<Target>('certificate.deploy_target.create', data);
  const certificate = (name = uniq('cert')) => createInternalCertificate(client, name, ca.id, EC);
  const serialOf = async (id: number) => opensslSerial(BigInt(String((await client.call<Entry>('certificate.get_instance', id)).serial)));
  const dir = (name: string) => {
    const made = path.join(scratch, name);
    fs.mkdirSync(made, { recursive: true });
    return made;
  };

  beforeAll(async () => {
    if (!available) return;
    const db = await database();
    drop = db.drop;
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-deploy-'));
    server = await startTestServer({ env: { ...db.env, DEPLOY_RETRY_SECONDS: String(RETRY_SECONDS) } });
    client = await adminClient(server);
    ca = await createRootCa(client, 'deploy-root', EC);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await drop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  describe.runIf(available)('the API', () => {
    it('lists the kinds and their attribute schemas, secrets marked write-only', async () => {
      expect(await client.call('certificate.deploy_target.kind_choices')).toMatchObject({ LOCAL: expect.any(String), WEBHOOK: 'Webhook' });
      const schemas = await client.call<Array<{ key: string; schema: { properties: Record<string, Record<string, unknown>> } }>>('certificate.deploy_target.kind_schemas');
      const local = schemas.find((entry) => entry.key === 'LOCAL')!;
      expect(local.schema.properties.pkcs12_password).toMatchObject({ type: 'string', writeOnly: true });
      expect(local.schema.properties.certificate_path).toMatchObject({ type: 'string', description: expect.stringContaining('Absolute path') });
      expect(local.schema.properties.reload_timeout).toMatchObject({ default: 60 });
      expect(schemas.find((entry) => entry.key === 'WEBHOOK')!.schema.properties.secret).toMatchObject({ writeOnly: true });
      expect(schemas.map((entry) => entry.key)).toEqual(['LOCAL', 'WEBHOOK', 'SSH', 'TRUENAS']);
      expect(schemas.find((entry) => entry.key === 'SSH')!.schema.properties.private_key).toMatchObject({ writeOnly: true });
      expect(schemas.find((entry) => entry.key === 'TRUENAS')!.schema.properties.api_key).toMatchObject({ writeOnly: true });
    });

    it('refuses bad input, naming each attribute, and writes nothing', async () => {
      const cert = await certificate();
      const csr = await client.callJob<Entry>('certificate.create', [{ ...subjectParams({ lifetime: undefined }), ...EC, name: uniq('csr'), create_type: 'CERTIFICATE_CREATE_CSR' }]);
      const before = await client.call<number>('certificate.deploy_target.query', [], { count: true });
      const root = 'certificate_deploy_target_create';
      expect(attributesOf(await validationOf(create({ name: uniq('t'), certificate: cert.id, kind: 'FTP', attributes: {} })))).toEqual([`${root}.kind`]);
      expect(
        attributesOf(await validationOf(create({ name: uniq('t'), certificate: cert.id, kind: 'LOCAL', attributes: { certificate_path: 'relative/cert.pem', bogus: 1, mode: '999' } }))).sort(),
      ).toEqual([`${root}.attributes.bogus`, `${root}.attributes.mode`]);
      expect(await validationOf(create({ name: uniq('t'), certificate: cert.id, kind: 'LOCAL', attributes: { certificate_path: 'relative/cert.pem' } }))).toEqual([
        [`${root}.attributes.certificate_path`, 'Must be an absolute path', 22],
      ]);
      expect(attributesOf(await validationOf(create({ name: uniq('t'), certificate: cert.id, kind: 'LOCAL', attributes: {} })))).toEqual([`${root}.attributes.certificate_path`]);
      expect(attributesOf(await validationOf(create({ name: uniq('t'), certificate: cert.id, kind: 'WEBHOOK', attributes: { url: 'ftp://x', secret: 'short' } }))).sort()).toEqual([
        `${root}.attributes.secret`,
        `${root}.attributes.url`,
      ]);
      expect(attributesOf(await validationOf(create({ name: uniq('t'), certificate: csr.id, kind: 'LOCAL', attributes: { certificate_path: '/tmp/x.pem' } })))).toEqual([`${root}.certificate`]);
      expect(attributesOf(await validationOf(create({ name: uniq('t'), certificate: 999_999, kind: 'LOCAL', attributes: { certificate_path: '/tmp/x.pem' } })))).toEqual([`${root}.certificate`]);
      expect(attributesOf(await validationOf(create({ name: '', certificate: cert.id, kind: 'LOCAL', attributes: {} })))).toContain(`${root}.name`);
      const name = uniq('taken');
      await create({ name, certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(dir('taken'), 'c.pem') } });
      expect(await validationOf(create({ name, certificate: cert.id, kind: 'LOCAL', attributes: { certificate_path: '/tmp/y.pem' } }))).toEqual([
        [`${root}.name`, 'A deploy target with this name already exists', 22],
      ]);
      expect(await client.call<number>('certificate.deploy_target.query', [], { count: true })).toBe(before + 1);
      const error = await client.call('certificate.deploy_target.get_instance', 999_999).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RpcError);
    });

    it('deploys files at once after create, as openssl reads them, with mode, owner and group, then runs the reload command', async () => {
      const cert = await certificate();
      const out = dir(uniq('local'));
      const reloads = path.join(out, 'reloads');
      const reload = script(out, 'reload.sh', `echo "$CERTMID_CERTIFICATE_SERIAL" >> "${reloads}"`);
      const files = {
        certificate_path: path.join(out, 'cert.pem'),
        chain_path: path.join(out, 'chain.pem'),
        private_key_path: path.join(out, 'key.pem'),
        fullchain_path: path.join(out, 'fullchain.pem'),
        pkcs12_path: path.join(out, 'bundle.p12'),
      };
      const created = await create({
        name: uniq('files'),
        certificate: cert.id,
        kind: 'LOCAL',
        attributes: { ...files, pkcs12_password: 'p12-secret-words', owner: 1, group: '1', reload_command: [reload] },
      });
      expect(created.attributes).toMatchObject({ pkcs12_password: '********', owner: 1, group: '1' });
      const serial = await serialOf(cert.id);
      const done = await targetWhen(client, created.id, (t) => t.state === 'DEPLOYED', 'deployed after create');
      expect(done).toMatchObject({ last_serial: serial, attempts: 0, last_error: null, certificate: cert.id, kind: 'LOCAL', enabled: true });
      expect(done.last_deployed_at).toEqual(expect.any(String));

      expect((await opensslOk(['x509', '-in', files.certificate_path, '-noout', '-serial'])).stdout.trim()).toBe(`serial=${serial}`);
      const certKey = (await opensslOk(['x509', '-in', files.certificate_path, '-noout', '-pubkey'])).stdout;
      expect((await opensslOk(['pkey', '-in', files.private_key_path, '-pubout'])).stdout).toBe(certKey);
      expect((await opensslOk(['verify', '-CAfile', files.chain_path, files.certificate_path])).stdout).toContain(': OK');
      const fullchain = fs.readFileSync(files.fullchain_path, 'utf8');
      expect(fullchain).toBe(fs.readFileSync(files.certificate_path, 'utf8') + fs.readFileSync(files.chain_path, 'utf8'));
      const p12 = await opensslOk(['pkcs12', '-in', files.pkcs12_path, '-passin', 'pass:p12-secret-words', '-nodes']);
      expect(p12.stdout).toContain('BEGIN PRIVATE KEY');
      expect((await opensslOk(['x509', '-noout', '-serial'], p12.stdout)).stdout.trim()).toBe(`serial=${serial}`);
      expect((await openssl(['pkcs12', '-in', files.pkcs12_path, '-passin', 'pass:wrong', '-nodes'])).code).not.toBe(0);

      const modeOf = (file: string) => fs.statSync(file).mode & 0o777;
      expect([files.certificate_path, files.chain_path, files.fullchain_path].map(modeOf)).toEqual([0o644, 0o644, 0o644]);
      expect([files.private_key_path, files.pkcs12_path].map(modeOf)).toEqual([0o600, 0o600]);
      for (const file of Object.values(files)) expect([fs.statSync(file).uid, fs.statSync(file).gid]).toEqual([1, 1]);
      expect(linesOf(reloads)).toEqual([serial]);
    });

    it('keeps secrets sealed at rest and never returns them; "********" sent back keeps the secret', async () => {
      const cert = await certificate();
      const out = dir(uniq('sealed'));
      const p12 = path.join(out, 'b.p12');
      const created = await create({ name: uniq('sealed'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { pkcs12_path: p12, pkcs12_password: 'sealed-secret-1' } });
      const raw = await server.daemon.app.db.getRepository(DeployTargetEntity).findOneByOrFail({ id: created.id });
      expect(raw.attributes).not.toContain('sealed-secret-1');
      expect(JSON.parse(server.daemon.app.secrets.decrypt(raw.attributes))).toMatchObject({ pkcs12_password: 'sealed-secret-1' });
      expect(JSON.stringify(await client.call('certificate.deploy_target.query'))).not.toContain('sealed-secret-1');
      expect(created.state).toBe('DISABLED');

      const updated = await client.call<Target>('certificate.deploy_target.update', created.id, { attributes: { pkcs12_path: p12, pkcs12_password: '********', mode: '0640' } });
      expect(updated.attributes).toEqual({ pkcs12_path: p12, pkcs12_password: '********', mode: '0640', reload_timeout: 60 });
      const after = await server.daemon.app.db.getRepository(DeployTargetEntity).findOneByOrFail({ id: created.id });
      expect(JSON.parse(server.daemon.app.secrets.decrypt(after.attributes))).toMatchObject({ pkcs12_password: 'sealed-secret-1', mode: '0640' });

      // A run by hand deploys a disabled target too, with the kept password and the one mode.
      const progress: string[] = [];
      const result = await client.callJob<Target>('certificate.deploy_target.run', [created.id], { onProgress: (p: { description?: string | null }) => void progress.push(String(p.description)) });
      expect(result).toMatchObject({ last_serial: await serialOf(cert.id), state: 'DISABLED' });
      expect(progress.some((text) => text.includes('Writing'))).toBe(true);
      expect((await openssl(['pkcs12', '-in', p12, '-passin', 'pass:sealed-secret-1', '-nodes'])).code).toBe(0);
      expect(fs.statSync(p12).mode & 0o777).toBe(0o640);

      expect(attributesOf(await validationOf(client.call('certificate.deploy_target.update', created.id, { attributes: { pkcs12_path: p12, pkcs12_password: 'x', bogus: true } })))).toEqual([
        'certificate_deploy_target_update.attributes.bogus',
      ]);
      expect(attributesOf(await validationOf(client.call('certificate.deploy_target.update', created.id, { kind: 'WEBHOOK' })))).toEqual(['certificate_deploy_target_update.kind']);
    });

    it('shows each target in its certificate\'s used_by, and certificate.delete refuses while one exists', async () => {
      const cert = await certificate();
      const target = await create({ name: uniq('used'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(dir(uniq('used')), 'c.pem') } });
      expect((await client.call<Entry>('certificate.get_instance', cert.id)).used_by).toEqual([
        { type: 'DEPLOY_TARGET', name: `Deploy target ${target.name}`, id: target.id, serial: null },
      ]);
      await expect(client.callJob('certificate.delete', [cert.id])).rejects.toMatchObject({
        message: expect.stringContaining(`1) Deploy target ${target.name}`),
      });
      expect(await client.call('certificate.deploy_target.delete', target.id)).toBe(true);
      expect((await client.call<Entry>('certificate.get_instance', cert.id)).used_by).toEqual([]);
      expect(await client.callJob('certificate.delete', [cert.id])).toBe(true);
    });

    it('deploys again, exactly once, when the certificate is renewed in place (same row, new serial)', async () => {
      const cert = await certificate();
      const next = await certificate();
      const out = dir(uniq('renewed'));
      const reloads = path.join(out, 'reloads');
      const target = await create({
        name: uniq('renewed'),
        certificate: cert.id,
        kind: 'LOCAL',
        attributes: { fullchain_path: path.join(out, 'fullchain.pem'), reload_command: `${script(out, 'reload.sh', `echo "$CERTMID_CERTIFICATE_SERIAL" >> "${reloads}"`)}` },
      });
      const first = await serialOf(cert.id);
      await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED' && t.last_serial === first, 'first serial deployed');
      const second = await serialOf(next.id);
      await replaceInPlace(server, cert.id, next.id);
      await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED' && t.last_serial === second, 'renewed serial deployed');
      expect((await opensslOk(['x509', '-in', path.join(out, 'fullchain.pem'), '-noout', '-serial'])).stdout.trim()).toBe(`serial=${second}`);
      expect(linesOf(reloads)).toEqual([first, second]);
      expect((await client.call<Entry>('certificate.get_instance', cert.id)).used_by).toEqual([
        { type: 'DEPLOY_TARGET', name: `Deploy target ${target.name}`, id: target.id, serial: second },
      ]);
    });

    it('records a failing reload command with its status and stderr, backs off, and succeeds on a retry', async () => {
      const cert = await certificate();
      const out = dir(uniq('flaky'));
      const marker = path.join(out, 'failed-once');
      const go = path.join(out, 'go');
      // Fails the first time; the retry then waits for the test's go, so the failure stays readable meanwhile.
      const reload = script(
        out,
        'reload.sh',
        `if [ ! -e "${marker}" ]; then touch "${marker}"; echo "nginx: [emerg] cannot load certificate" >&2; exit 3; fi\nwhile [ ! -e "${go}" ]; do sleep 0.1; done`,
      );
      const target = await create({ name: uniq('flaky'), certificate: cert.id, kind: 'LOCAL', attributes: { certificate_path: path.join(out, 'c.pem'), reload_command: [reload] } });
      const failed = await targetWhen(client, target.id, (t) => t.attempts === 1, 'failure recorded');
      expect(failed.last_error).toBe(`Reload command ${reload} exited with status 3: nginx: [emerg] cannot load certificate`);
      expect(['FAILED', 'RUNNING']).toContain(failed.state);
      expect(failed.last_serial).toBeNull();
      expect(Date.parse(failed.next_attempt_at!) - Date.parse(failed.last_attempt_at!)).toBeGreaterThanOrEqual(RETRY_SECONDS * 1000);
      fs.writeFileSync(go, '');
      const recovered = await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED', 'retried after the backoff');
      expect(recovered).toMatchObject({ attempts: 0, last_error: null, next_attempt_at: null, last_serial: await serialOf(cert.id) });
    });

    it('kills a reload command that outlives its timeout and says so; a run by hand fails its job with the same text', async () => {
      const cert = await certificate();
      const out = dir(uniq('slow'));
      const reload = script(out, 'reload.sh', 'echo "still waiting" >&2; exec sleep 600');
      const target = await create({ name: uniq('slow'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(out, 'c.pem'), reload_command: [reload], reload_timeout: 1 } });
      const error = await client.callJob('certificate.deploy_target.run', [target.id]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobError);
      const text = `Reload command ${reload} did not finish within 1 seconds and was killed: still waiting`;
      expect((error as JobError).message).toContain(text);
      const after = await client.call<Target>('certificate.deploy_target.get_instance', target.id);
      expect(after).toMatchObject({ last_error: text, attempts: 1, state: 'DISABLED' });
      expect(after.next_attempt_at).toEqual(expect.any(String));
    });

    it('aborts a run: the kind is stopped and the target says so', async () => {
      const cert = await certificate();
      const out = dir(uniq('abort'));
      const started = path.join(out, 'started');
      const reload = script(out, 'reload.sh', `touch "${started}"; exec sleep 600`);
      const target = await create({ name: uniq('abort'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(out, 'c.pem'), reload_command: [reload], reload_timeout: 600 } });
      const jobId = await client.call<number>('certificate.deploy_target.run', target.id);
      await expect.poll(() => fs.existsSync(started), { timeout: 30_000 }).toBe(true);
      await client.call('core.job_abort', jobId);
      await expect.poll(async () => (await client.call<Array<{ state: string }>>('core.get_jobs', [['id', '=', jobId]]))[0]?.state, { timeout: 30_000 }).toBe('ABORTED');
      await targetWhen(client, target.id, (t) => t.last_error === 'The deploy was aborted', 'abort recorded');
    });

    it('does not deploy a revoked certificate, and says so', async () => {
      const cert = await certificate();
      const out = dir(uniq('revoked'));
      const target = await create({ name: uniq('revoked'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(out, 'c.pem') } });
      // Revoked underneath the target, as revoking its CA does.
      await server.daemon.app.db.query(`UPDATE certificate SET revoked_date = ${Date.now()} WHERE id = ${cert.id}`);
      await expect(client.callJob('certificate.deploy_target.run', [target.id])).rejects.toBeInstanceOf(JobError);
      const after = await client.call<Target>('certificate.deploy_target.get_instance', target.id);
      expect(after.last_error).toBe(`Certificate ${cert.name} is revoked: it is not deployed`);
      expect(fs.existsSync(path.join(out, 'c.pem'))).toBe(false);
    });

    it('reports a directory that does not exist', async () => {
      const cert = await certificate();
      const missing = path.join(scratch, 'no-such-dir', 'c.pem');
      const target = await create({ name: uniq('missing'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: missing } });
      await expect(client.callJob('certificate.deploy_target.run', [target.id])).rejects.toMatchObject({
        message: expect.stringContaining(`Cannot write ${missing}: directory ${path.dirname(missing)} does not exist`),
      });
    });

    it('takes owner and group by name, and says when a name is unknown on this host', async () => {
      const cert = await certificate();
      const out = dir(uniq('named'));
      const idOf = (database: string, name: string) => Number(fs.readFileSync(database, 'utf8').split('\n').find((line) => line.startsWith(`${name}:`))!.split(':')[2]);
      const named = await create({ name: uniq('named'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(out, 'c.pem'), owner: 'daemon', group: 'bin' } });
      await client.callJob('certificate.deploy_target.run', [named.id]);
      const stat = fs.statSync(path.join(out, 'c.pem'));
      expect([stat.uid, stat.gid]).toEqual([idOf('/etc/passwd', 'daemon'), idOf('/etc/group', 'bin')]);
      const unknown = await create({ name: uniq('unknown'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(out, 'd.pem'), owner: 'no-such-user-here' } });
      await expect(client.callJob('certificate.deploy_target.run', [unknown.id])).rejects.toMatchObject({ message: expect.stringContaining('No user named no-such-user-here on this host') });
      expect(fs.existsSync(path.join(out, 'd.pem'))).toBe(false);
    });

    it('words an unexpected failure generically, keeping the details for the log', async () => {
      const cert = await certificate();
      const target = await create({ name: uniq('broken'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(dir(uniq('broken')), 'c.pem') } });
      // Attributes this version cannot read any more (as after a downgrade), sealed as the daemon seals them.
      const sealed = server.daemon.app.secrets.encrypt(JSON.stringify({ certificate_path: 42 }));
      await server.daemon.app.db.getRepository(DeployTargetEntity).update({ id: target.id }, { attributes: sealed });
      await expect(client.callJob('certificate.deploy_target.run', [target.id])).rejects.toBeInstanceOf(JobError);
      expect((await client.call<Target>('certificate.deploy_target.get_instance', target.id)).last_error).toBe('The deploy failed unexpectedly; the daemon log has the details');
    });

    it('filters with the query language, and lets a reader read but not change or run', async () => {
      const cert = await certificate();
      const target = await create({ name: uniq('filtered'), certificate: cert.id, kind: 'WEBHOOK', enabled: false, attributes: { url: 'https://hooks.example.com/x', secret: 'a-reader-never-sees-this' } });
      expect(await client.call('certificate.deploy_target.query', [['certificate', '=', cert.id]], { select: ['name', 'kind'] })).toEqual([{ name: target.name, kind: 'WEBHOOK' }]);
      expect(await client.call('certificate.deploy_target.query', [['kind', '=', 'WEBHOOK'], ['enabled', '=', false]], { count: true })).toBeGreaterThanOrEqual(1);
      const username = uniq('reader');
      await client.call('user.create', { username, password: 'reader-password-1', roles: ['CERTIFICATE_READ'] });
      const reader = await CertmidClient.connect(server.url, { WebSocket });
      try {
        await reader.login(username, 'reader-password-1');
        const seen = await reader.call<Target>('certificate.deploy_target.get_instance', target.id);
        expect(seen.attributes.secret).toBe('********');
        expect(await reader.call('certificate.deploy_target.kind_choices')).toHaveProperty('LOCAL');
        for (const call of [
          () => reader.call('certificate.deploy_target.create', { name: uniq('denied'), certificate: cert.id, kind: 'LOCAL', attributes: { certificate_path: '/tmp/x.pem' } }),
          () => reader.call('certificate.deploy_target.update', target.id, { enabled: true }),
          () => reader.call('certificate.deploy_target.delete', target.id),
          () => reader.call('certificate.deploy_target.run', target.id),
        ]) {
          await expect(call()).rejects.toMatchObject({ message: expect.stringContaining('Not authorized') });
        }
      } finally {
        await reader.close();
      }
    });

    it('emits certificate.deploy_target.query events', async () => {
      const events: Array<{ msg: string; id: unknown }> = [];
      const unsubscribe = await client.subscribe('certificate.deploy_target.query', (event) => void events.push({ msg: event.msg, id: event.id }));
      const cert = await certificate();
      const target = await create({ name: uniq('events'), certificate: cert.id, kind: 'LOCAL', enabled: false, attributes: { certificate_path: path.join(dir(uniq('events')), 'c.pem') } });
      await client.call('certificate.deploy_target.update', target.id, { name: uniq('renamed') });
      await client.call('certificate.deploy_target.delete', target.id);
      await expect.poll(() => events.filter((event) => event.id === target.id).map((event) => event.msg), { timeout: 10_000 }).toEqual(['added', 'changed', 'removed']);
      await unsubscribe();
    });
  });
});
