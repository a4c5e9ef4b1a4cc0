import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticatorQuerySpec, loadAuthenticator } from '../../src/acme/authenticators.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { CertmidClient, RpcError, type CollectionUpdate } from '../../src/client/client.js';
import type { ShellDnsProvider } from '../../src/dns/providers/shell.js';
import { PROVIDERS } from '../../src/dns/providers/index.js';
import { explainQuery } from '../../src/query/sql-query.js';
import { FakeCloudflare } from '../fakes/cloudflare.js';
import { startPowerDnsFake } from '../fakes/powerdns.js';
import { acmeToolsAvailable, startBind, type BindServer } from '../helpers/acme-harness.js';
import { adminClient, subjectParams, validationErrorsOf } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Entry {
  id: number;
  name: string;
  attributes: Record<string, unknown> & { authenticator: string };
  propagation: { mode: string; timeout: number; delay: number };
}

/** Distinct per run, so finding one in the database file cannot be a coincidence. */
const secret = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`;
const CF_TOKEN = secret('cf-token');
const CF_KEY = secret('cf-key');
const AWS_KEY_ID = secret('AKIA');
const AWS_SECRET = secret('aws-secret');
const TSIG_SECRET = randomBytes(32).toString('base64');
const HETZNER_TOKEN = secret('hetzner');
const OVH_SECRET = secret('ovh-secret');
const OVH_CONSUMER = secret('ovh-consumer');
const PASSWORD = 'a-long-password';
/** BIND 9 is needed for rfc2136 verification; skipped where it is not installed (never in CI). */
const bindAvailable = await acmeToolsAvailable();

const cloudflare = { authenticator: 'cloudflare', api_token: CF_TOKEN };
const route53 = { authenticator: 'route53', access_key_id: AWS_KEY_ID, secret_access_key: AWS_SECRET };
const rfc2136 = { authenticator: 'rfc2136', nameserver: 'ns1.example.com', tsig_key_name: 'acme-update', tsig_secret: TSIG_SECRET };
const shell = { authenticator: 'shell', script: '/usr/local/bin/acme-dns-hook' };

let server: TestServer;
let admin: CertmidClient;
const clients: CertmidClient[] = [];

beforeAll(async () => {
  server = await startTestServer();
  admin = await adminClient(server);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await admin?.close();
  await server?.close();
});

const create = (name: string, attributes: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  admin.call<Entry>('acme.dns.authenticator.create', { name, attributes, ...extra });

const update = (id: number, data: Record<string, unknown>) => admin.call<Entry>('acme.dns.authenticator.update', id, data);

/** A new account with `roles`, logged in. */
async function clientWithRoles(username: string, roles: string[]): Promise<CertmidClient> {
  await admin.call('user.create', { username, password: PASSWORD, roles });
  const client = await CertmidClient.connect(server.url, { WebSocket });
  clients.push(client);
  await client.login(username, PASSWORD);
  return client;
}

async function rpcErrorOf(promise: Promise<unknown>): Promise<RpcError> {
  const error = await promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

async function waitFor(predicate: () => boolean, timeout = 5000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeout) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('create, get_instance and query', () => {
  it.each([
    ['cloudflare', cloudflare, { cloudflare_email: null, api_key: null, api_token: CF_TOKEN }],
    ['route53', route53, { access_key_id: AWS_KEY_ID, secret_access_key: AWS_SECRET }],
    ['rfc2136', rfc2136, { nameserver: 'ns1.example.com', port: 53, tsig_key_name: 'acme-update', tsig_algorithm: 'hmac-sha256', tsig_secret: TSIG_SECRET, zone: null }],
    ['hetzner', { authenticator: 'hetzner', api_token: HETZNER_TOKEN }, { api_token: HETZNER_TOKEN }],
    [
      'OVH',
      { authenticator: 'OVH', application_key: 'ovh-app', application_secret: OVH_SECRET, consumer_key: OVH_CONSUMER, endpoint: 'ovh-eu' },
      { application_key: 'ovh-app', application_secret: OVH_SECRET, consumer_key: OVH_CONSUMER, endpoint: 'ovh-eu' },
    ],
  ])('creates a %s authenticator with defaults filled and reads it back', async (key, attributes, fields) => {
    const entry = await create(`basic-${key}`, attributes);
    expect(entry).toEqual({
      id: expect.any(Number),
      name: `basic-${key}`,
      attributes: { authenticator: key, ...fields },
      propagation: { mode: 'check', timeout: 300, delay: 0 },
    });
    expect(await admin.call('acme.dns.authenticator.get_instance', entry.id)).toEqual(entry);
    expect(await admin.call('acme.dns.authenticator.query', [['id', '=', entry.id]])).toEqual([entry]);
  });

  it('gives shell TrueNAS\'s defaults and waits its `delay`, which follows the attribute', async () => {
    const entry = await create('shell-hook', shell);
    expect(entry.attributes).toEqual({ ...shell, user: 'nobody', timeout: 60, delay: 60 });
    expect(entry.propagation).toEqual({ mode: 'delay', timeout: 300, delay: 60 });
    const slower = await update(entry.id, { attributes: { ...shell, delay: 90 } });
    expect(slower.propagation).toEqual({ mode: 'delay', timeout: 300, delay: 90 });
    const checked = await update(entry.id, { propagation: { mode: 'check', timeout: 120 } });
    expect(checked.propagation).toEqual({ mode: 'check', timeout: 120, delay: 90 });
  });

  it('takes propagation settings on create', async () => {
    const entry = await create('with-propagation', cloudflare, { propagation: { mode: 'delay', delay: 20 } });
    expect(entry.propagation).toEqual({ mode: 'delay', timeout: 300, delay: 20 });
  });

  it('filters on id, name and authenticator in SQL and on anything else in memory', async () => {
    const spec = authenticatorQuerySpec(server.daemon.app, false);
    const plan = explainQuery(spec, [['attributes.authenticator', '=', 'route53'], ['name', '^', 'q-'], ['id', '>', 0]], { order_by: ['attributes.authenticator'] });
    expect(plan).toMatchObject({ pushedFilters: 3, residualFilters: 0, sqlOrder: ['attributes.authenticator'] });
    expect(explainQuery(spec, [['attributes.access_key_id', '=', 'x']]).residualFilters).toBe(1);

    const a = await create('q-route53-a', route53);
    const b = await create('q-route53-b', { ...route53, access_key_id: 'other-id' });
    await create('q-cloudflare', cloudflare);
    const query = (filters: unknown[], options: Record<string, unknown> = {}) => admin.call<unknown>('acme.dns.authenticator.query', filters, options);
    expect(await query([['attributes.authenticator', '=', 'route53'], ['name', '^', 'q-']], { select: ['id'] })).toEqual([{ id: a.id }, { id: b.id }]);
    expect(await query([['attributes.access_key_id', '=', 'other-id']], { select: ['name'] })).toEqual([{ name: 'q-route53-b' }]);
    expect(await query([['name', '^', 'q-']], { count: true })).toBe(3);
    expect(await query([['name', '^', 'q-']], { order_by: ['-name'], get: true, select: ['name'] })).toEqual({ name: 'q-route53-b' });
  });

  it('reports an unknown id as TrueNAS\'s InstanceNotFound', async () => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.get_instance', 9999))).toEqual([[null, 'DNS Authenticator 9999 does not exist', 2]]);
    expect(await validationErrorsOf(update(9999, { name: 'x' }))).toEqual([[null, 'DNS Authenticator 9999 does not exist', 2]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.delete', 9999))).toEqual([[null, 'DNS Authenticator 9999 does not exist', 2]]);
  });
});

describe('TrueNAS validation messages', () => {
  beforeAll(async () => {
    await create('taken', cloudflare);
  });

  it.each([
    ['a name in use', { name: 'taken', attributes: cloudflare }, [['dns_authenticator_create.name', 'Specified name is already in use', 22]]],
    [
      'a token with a Global API Key',
      { name: 'cf1', attributes: { ...cloudflare, cloudflare_email: 'ops@example.com', api_key: CF_KEY } },
      [
        ['cloudflare_email', 'Should not be specified when using "api_token".', 22],
        ['api_key', 'Should not be specified when using "api_token".', 22],
      ],
    ],
    [
      'a Global API Key without e-mail',
      { name: 'cf2', attributes: { authenticator: 'cloudflare', api_key: CF_KEY } },
      [['cloudflare_email', 'Attribute is required when using a Global API Key (should be associated with Cloudflare account).', 22]],
    ],
    [
      'an e-mail without Global API Key',
      { name: 'cf3', attributes: { authenticator: 'cloudflare', cloudflare_email: 'ops@example.com' } },
      [['api_key', 'Attribute is required when using a Global API Key.', 22]],
    ],
    [
      'no cloudflare credentials, before the name in use',
      { name: 'taken', attributes: { authenticator: 'cloudflare' } },
      [['api_token', 'Attribute must be specified when Global API Key is not specified.', 22]],
    ],
    ['an unknown attribute', { name: 'x1', attributes: { ...route53, region: 'eu' } }, [['dns_authenticator_create.attributes.region', 'Field was not expected', 22]]],
    [
      'a missing attribute',
      { name: 'x2', attributes: { authenticator: 'route53', access_key_id: 'id' } },
      [['dns_authenticator_create.attributes.secret_access_key', 'attribute required', 22]],
    ],
    ['a shell timeout under 5', { name: 'x3', attributes: { ...shell, timeout: 4 } }, [['dns_authenticator_create.attributes.timeout', 'Should be greater than or equal to 5', 22]]],
    ['an unknown key', { name: 'x4', attributes: cloudflare, token: 'x' }, [['dns_authenticator_create.token', 'Field was not expected', 22]]],
    ['a missing name', { attributes: cloudflare }, [['dns_authenticator_create.name', 'attribute required', 22]]],
  ])('refuses %s on create', async (_, data, expected) => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.create', data))).toEqual(expected);
  });

  it('refuses an unknown provider, naming the choices', async () => {
    const [[attribute, message] = []] = await validationErrorsOf(create('x5', { authenticator: 'bind' }));
    expect(attribute).toBe('dns_authenticator_create.attributes.authenticator');
    expect(message).toMatch(/^Invalid choice: expected one of cloudflare, digitalocean, route53, OVH, shell, rfc2136, /);
  });

  it('refuses TrueNAS\'s update errors and renames onto its own name', async () => {
    const entry = await create('upd-route53', route53);
    await create('upd-other', route53);
    expect(await validationErrorsOf(update(entry.id, { attributes: cloudflare }))).toEqual([
      ['dns_authenticator_update.attributes.authenticator', 'Authenticator cannot be changed', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { authenticator: 'route53', access_key_id: 'new' } }))).toEqual([
      ['dns_authenticator_update.attributes.secret_access_key', 'attribute required', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { name: 'upd-other' }))).toEqual([['dns_authenticator_update.name', 'Specified name is already in use', 22]]);
    expect(await update(entry.id, { name: 'upd-route53' })).toEqual(entry);
  });

  it('checks cloudflare credentials on update with bare attribute names', async () => {
    const entry = await create('upd-cloudflare', cloudflare);
    expect(await validationErrorsOf(update(entry.id, { attributes: { authenticator: 'cloudflare', api_key: CF_KEY } }))).toEqual([
      ['cloudflare_email', 'Attribute is required when using a Global API Key (should be associated with Cloudflare account).', 22],
    ]);
  });
});

describe('update', () => {
  it('renames and replaces attributes, keeping the id', async () => {
    const entry = await create('rename-me', route53);
    const renamed = await update(entry.id, { name: 'renamed' });
    expect(renamed).toEqual({ ...entry, name: 'renamed' });
    const replaced = await update(entry.id, { attributes: { ...route53, secret_access_key: 'rotated-secret' } });
    expect(replaced).toEqual({ ...renamed, attributes: { ...route53, secret_access_key: 'rotated-secret' } });
  });
});

describe('secrets', () => {
  it('shows secret attributes as "********" to readers and in clear to writers', async () => {
    const cf = await create('redact-cloudflare', { authenticator: 'cloudflare', cloudflare_email: 'ops@example.com', api_key: CF_KEY });
    const tsig = await create('redact-rfc2136', rfc2136);
    const reader = await clientWithRoles('dns-reader', ['READONLY_ADMIN']);
    expect(await reader.call('acme.dns.authenticator.get_instance', cf.id)).toEqual({
      ...cf,
      attributes: { authenticator: 'cloudflare', cloudflare_email: 'ops@example.com', api_key: '********', api_token: null },
    });
    expect(await reader.call('acme.dns.authenticator.get_instance', tsig.id)).toEqual({ ...tsig, attributes: { ...tsig.attributes, tsig_secret: '********' } });
    const everything = JSON.stringify(await reader.call('acme.dns.authenticator.query'));
    for (const value of [CF_KEY, CF_TOKEN, TSIG_SECRET, AWS_SECRET]) expect(everything).not.toContain(value);

    const networkWriter = await clientWithRoles('dns-network-writer', ['NETWORK_INTERFACE_WRITE']);
    expect(await networkWriter.call('acme.dns.authenticator.get_instance', cf.id)).toEqual(cf);
    const acmeWriter = await clientWithRoles('dns-acme-writer', ['ACME_WRITE']);
    expect(await acmeWriter.call('acme.dns.authenticator.get_instance', tsig.id)).toEqual(tsig);
  });

  it('does not let a reader probe a secret with filters', async () => {
    const reader = await clientWithRoles('dns-prober', ['NETWORK_INTERFACE_READ']);
    const entry = await create('probe-me', { authenticator: 'hetzner', api_token: HETZNER_TOKEN });
    const filters = [['id', '=', entry.id], ['attributes.api_token', '^', HETZNER_TOKEN.slice(0, 10)]];
    expect(await reader.call('acme.dns.authenticator.query', filters)).toEqual([]);
    expect(await admin.call('acme.dns.authenticator.query', filters, { count: true })).toBe(1);
  });

  it('lets either role family in and keeps readers from writing', async () => {
    const acmeReader = await clientWithRoles('dns-acme-reader', ['ACME_READ']);
    expect(await acmeReader.call('acme.dns.authenticator.query')).toEqual(expect.any(Array));
    expect(await acmeReader.call('acme.dns.authenticator.authenticator_schemas')).toEqual(expect.any(Array));
    const acmeWriter = await clientWithRoles('dns-acme-creator', ['ACME_WRITE']);
    expect((await acmeWriter.call<Entry>('acme.dns.authenticator.create', { name: 'by-acme-writer', attributes: cloudflare })).name).toBe('by-acme-writer');
    for (const [method, params] of [
      ['acme.dns.authenticator.create', [{ name: 'nope', attributes: cloudflare }]],
      ['acme.dns.authenticator.verify', [{ attributes: cloudflare }]],
    ] as const) {
      expect((await rpcErrorOf(acmeReader.call(method, ...params))).errname).toBe('EACCES');
    }
  });

  it('keeps every attribute encrypted in the database file', async () => {
    await create('db-route53', route53);
    await create('db-rfc2136', rfc2136);
    await create('db-cloudflare', cloudflare);
    const files = fs.readdirSync(server.dataDir).filter((file) => file.startsWith('certmid.db'));
    const bytes = Buffer.concat(files.map((file) => fs.readFileSync(path.join(server.dataDir, file))));
    // The names are not secret: finding them shows these are the right files.
    expect(bytes.includes('db-rfc2136')).toBe(true);
    for (const value of [CF_TOKEN, AWS_KEY_ID, AWS_SECRET, TSIG_SECRET, 'acme-update', 'ns1.example.com']) expect(bytes.includes(value), value).toBe(false);
  });
});

describe('acme.dns.authenticator.authenticator_schemas', () => {
  it('lists every provider, TrueNAS\'s five first, each field described and annotated for forms', async () => {
    const reader = await clientWithRoles('schema-reader', ['READONLY_ADMIN']);
    const schemas = await reader.call<Array<{ key: string; schema: Record<string, unknown> }>>('acme.dns.authenticator.authenticator_schemas');
    expect(schemas.map((s) => s.key)).toEqual(PROVIDERS.map((p) => p.key));
    expect(schemas.slice(0, 5).map((s) => s.key)).toEqual(['cloudflare', 'digitalocean', 'route53', 'OVH', 'shell']);
    for (const { key, schema } of schemas) {
      const properties = schema.properties as Record<string, Record<string, unknown>>;
      expect(schema, key).toMatchObject({ type: 'object', title: 'attributes', _name_: 'attributes', _required_: true, additionalProperties: false });
      expect(schema._attrs_order_, key).toEqual(Object.keys(properties));
      expect(Object.keys(properties)[0], key).toBe('authenticator');
      expect(properties.authenticator, key).toMatchObject({ type: 'string', const: key, _required_: true });
      for (const [name, property] of Object.entries(properties)) {
        expect(property.description, `${key}.${name}`).toEqual(expect.stringMatching(/\S/));
        expect(property, `${key}.${name}`).toMatchObject({ title: name, _name_: name, _required_: (schema.required as string[]).includes(name) });
        const secret = PROVIDERS.find((p) => p.key === key)!.secretFields.includes(name);
        expect(property.writeOnly === true, `${key}.${name} writeOnly`).toBe(secret);
      }
    }
  });

  it('describes cloudflare as TrueNAS does', async () => {
    const schemas = await admin.call<Array<{ key: string; schema: Record<string, unknown> }>>('acme.dns.authenticator.authenticator_schemas');
    expect(schemas[0]).toMatchObject({
      key: 'cloudflare',
      schema: {
        required: ['authenticator'],
        _attrs_order_: ['authenticator', 'cloudflare_email', 'api_key', 'api_token'],
        properties: {
          cloudflare_email: { anyOf: [{ minLength: 1, type: 'string' }, { type: 'null' }], default: null, description: 'Cloudflare Email', _required_: false },
          api_key: { default: null, description: 'API Key', _required_: false },
          api_token: { default: null, description: 'API Token', _required_: false },
        },
      },
    });
  });
});

describe('acme.dns.authenticator.verify', () => {
  const verify = (data: Record<string, unknown>) => admin.call<{ valid: boolean; error: string | null }>('acme.dns.authenticator.verify', data);

  it('needs exactly one of id and attributes', async () => {
    const expected = [['dns_authenticator_verify', 'Specify either "id" or "attributes"', 22]];
    expect(await validationErrorsOf(verify({}))).toEqual(expected);
    expect(await validationErrorsOf(verify({ id: 1, attributes: cloudflare }))).toEqual(expected);
    expect(await validationErrorsOf(verify({ attributes: { authenticator: 'cloudflare' } }))).toEqual([
      ['api_token', 'Attribute must be specified when Global API Key is not specified.', 22],
    ]);
    const missing = await rpcErrorOf(verify({ id: 9999 }));
    expect([missing.errname, missing.message]).toEqual(['ENOENT', '[ENOENT] DNS Authenticator 9999 does not exist']);
  });

  it('asks an HTTP provider\'s API, saved or not, and reports a refusal as a result', async () => {
    const fake = await startPowerDnsFake({ apiKey: 'pdns-key', zones: [{ name: 'example.com.', kind: 'Native' }] });
    try {
      const attributes = { authenticator: 'powerdns', api_url: fake.baseUrl, api_key: 'pdns-key' };
      expect(await verify({ attributes })).toEqual({ valid: true, error: null });
      const wrong = await create('verify-powerdns', { ...attributes, api_key: 'wrong-key' });
      expect(await verify({ id: wrong.id })).toEqual({ valid: false, error: expect.stringMatching(/^powerdns: .*Unauthorized/) });
      expect(fake.requests.map((request) => request.method)).toEqual(['GET', 'GET']);
    } finally {
      await fake.close();
    }
  });

  it('checks that a shell script exists and may be run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-hook-'));
    try {
      const script = path.join(dir, 'hook.sh');
      fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      const user = os.userInfo().username;
      expect(await verify({ attributes: { authenticator: 'shell', script, user } })).toEqual({ valid: true, error: null });
      expect(await verify({ attributes: { authenticator: 'shell', script: `${script}.missing`, user } })).toEqual({
        valid: false,
        error: `shell: ${script}.missing does not exist`,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.runIf(bindAvailable)('rfc2136 against BIND 9', () => {
    let bind: BindServer;
    beforeAll(async () => {
      bind = await startBind();
    });
    afterAll(async () => {
      await bind?.stop();
    });

    const attributes = (key: { name: string; algorithm: string; secret: string }) => ({
      authenticator: 'rfc2136',
      nameserver: bind.host,
      port: bind.port,
      tsig_key_name: key.name,
      tsig_algorithm: key.algorithm,
      tsig_secret: key.secret,
      zone: bind.zone,
    });

    it('accepts a key that may update the zone and reports the server\'s refusals', async () => {
      const saved = await create('verify-bind', attributes(bind.tsig));
      expect(await verify({ id: saved.id })).toEqual({ valid: true, error: null });
      expect(await verify({ attributes: attributes(bind.tsigReadOnly) })).toEqual({ valid: false, error: expect.stringMatching(/REFUSED/) });
      expect(await verify({ attributes: attributes({ ...bind.tsig, secret: randomBytes(32).toString('base64') }) })).toEqual({
        valid: false,
        error: expect.stringMatching(/BADSIG/),
      });
    });
  });
});

describe('loadAuthenticator', () => {
  it('builds the saved provider with the caller\'s context and the propagation settings', async () => {
    const fake = await FakeCloudflare.start({ token: CF_TOKEN, zones: [{ name: 'example.com' }] });
    try {
      const saved = await create('load-cloudflare', cloudflare, { propagation: { timeout: 120 } });
      const loaded = await loadAuthenticator(server.daemon.app, saved.id, { baseUrl: fake.baseUrl });
      expect(loaded).toMatchObject({ id: saved.id, name: 'load-cloudflare', key: 'cloudflare', propagation: { mode: 'check', timeoutSeconds: 120, delaySeconds: 0 } });
      await loaded.provider.verify();
      await loaded.provider.createTxt('_acme-challenge.example.com', 'challenge-value');
      expect(fake.txt('_acme-challenge.example.com')).toEqual(['challenge-value']);
    } finally {
      await fake.close();
    }
  });

  it('gives shell its delay and refuses an unknown id', async () => {
    const saved = await create('load-shell', { ...shell, delay: 45 });
    const loaded = await loadAuthenticator(server.daemon.app, saved.id);
    expect(loaded.propagation).toEqual({ mode: 'delay', timeoutSeconds: 300, delaySeconds: 45 });
    expect((loaded.provider as ShellDnsProvider).propagationDelaySeconds).toBe(45);
    await expect(loadAuthenticator(server.daemon.app, 9999)).rejects.toMatchObject({ errname: 'ENOENT', message: 'DNS Authenticator 9999 does not exist' });
  });
});

describe('delete and events', () => {
  it('sends acme.dns.authenticator.query events after each change, and none for a refused one', async () => {
    const events: CollectionUpdate[] = [];
    const unsubscribe = await admin.subscribe('acme.dns.authenticator.query', (event) => events.push(event));
    const entry = await create('events', cloudflare);
    await validationErrorsOf(create('events', cloudflare));
    await update(entry.id, { name: 'events-renamed' });
    expect(await admin.call('acme.dns.authenticator.delete', entry.id)).toBe(true);
    await waitFor(() => events.length >= 3);
    await unsubscribe();
    const collection = 'acme.dns.authenticator.query';
    expect(events).toEqual([
      { msg: 'added', collection, id: entry.id },
      { msg: 'changed', collection, id: entry.id },
      { msg: 'removed', collection, id: entry.id },
    ]);
  });

  it('removes the id from every certificate\'s mapping, keeping the other entries', async () => {
    const { app } = server.daemon;
    const gone = await create('mapping-gone', cloudflare);
    const kept = await create('mapping-kept', route53);
    const csr = (name: string) => admin.callJob<{ id: number }>('certificate.create', [{ ...subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, lifetime: undefined }), name, create_type: 'CERTIFICATE_CREATE_CSR' }]);
    const [both, other] = [await csr('mapping-both'), await csr('mapping-other')];
    const certificates = app.db.getRepository(CertificateEntity);
    const seal = (mapping: Record<string, number>) => app.secrets.encrypt(JSON.stringify(mapping));
    const mappingOf = async (id: number) => JSON.parse(app.secrets.decrypt((await certificates.findOneByOrFail({ id })).domains_authenticators!)) as unknown;
    await certificates.update({ id: both.id }, { domains_authenticators: seal({ 'example.com': gone.id, '*.example.com': gone.id, 'DNS:other.example': kept.id }) });
    await certificates.update({ id: other.id }, { domains_authenticators: seal({ 'other.example': kept.id }) });

    const events: CollectionUpdate[] = [];
    const unsubscribe = [
      await admin.subscribe('certificate.query', (event) => events.push(event)),
      await admin.subscribe('acme.dns.authenticator.query', (event) => events.push(event)),
    ];
    expect(await admin.call('acme.dns.authenticator.delete', gone.id)).toBe(true);
    expect(await mappingOf(both.id)).toEqual({ 'DNS:other.example': kept.id });
    expect(await mappingOf(other.id)).toEqual({ 'other.example': kept.id });
    expect(await admin.call('acme.dns.authenticator.query', [['id', '=', gone.id]])).toEqual([]);
    await waitFor(() => events.length >= 2);
    for (const stop of unsubscribe) await stop();
    expect(events).toEqual([
      { msg: 'changed', collection: 'certificate.query', id: both.id },
      { msg: 'removed', collection: 'acme.dns.authenticator.query', id: gone.id },
    ]);
  });
});
