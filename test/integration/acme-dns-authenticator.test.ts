import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticatorQuerySpec, loadAuthenticator } from '../../src/acme/authenticators.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { CertmidClient, type CollectionUpdate } from '../../src/client/client.js';
import type { ShellDnsProvider } from '../../src/dns/providers/shell.js';
import { PROVIDERS } from '../../src/dns/providers/index.js';
import { OVH_ENDPOINTS } from '../../src/dns/providers/ovh.js';
import { explainQuery } from '../../src/query/sql-query.js';
import { FakeCloudflare } from '../fakes/cloudflare.js';
import { startPowerDnsFake } from '../fakes/powerdns.js';
import { acmeToolsAvailable, startBind, type BindServer } from '../helpers/acme-harness.js';
import { adminClient, rpcErrorOf, subjectParams, validationErrorsOf } from '../helpers/pki-client.js';
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
/**
 * Shell scripts must exist and be executable by their user (TrueNAS's checks). Only root can run a
 * script as `nobody` (the default user); anyone else names themselves.
 */
const isRoot = process.getuid?.() === 0;
const me = os.userInfo().username;
const hooks = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-hooks-'));
fs.chmodSync(hooks, 0o755);
const hook = (name: string, mode: number) => {
  const file = path.join(hooks, name);
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, mode);
  return file;
};
/** Executable by everyone. */
const HOOK = hook('acme-dns-hook', 0o755);
/** Executable by its owner only. */
const OWNER_HOOK = hook('owner-hook', 0o700);
/** Executable by nobody: not even root may execute a file without an execute bit. */
const PLAIN_FILE = hook('not-executable', 0o644);
const MISSING_USER = `no-such-user-${randomBytes(4).toString('hex')}`;
const shell = { authenticator: 'shell', script: HOOK, ...(isRoot ? {} : { user: me }) };

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
  fs.rmSync(hooks, { recursive: true, force: true });
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
    expect(entry.attributes).toEqual({ ...shell, user: isRoot ? 'nobody' : me, timeout: 60, delay: 60 });
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
  ])('refuses %s on create', async (_, data, expected) => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.create', data))).toEqual(expected);
  });
});

describe('pydantic validation messages (acme.dns.authenticator is a pydantic namespace)', () => {
  const at = (path: string) => `dns_authenticator_create.${path}`;
  const tags = PROVIDERS.map((provider) => `'${provider.key}'`).join(', ');

  it.each([
    ['a missing field', { name: 'p1', attributes: { authenticator: 'route53', access_key_id: 'id' } }, [[at('attributes.route53.secret_access_key'), 'Field required', 22]]],
    ['a missing name', { attributes: cloudflare }, [[at('name'), 'Field required', 22]]],
    ['a missing attributes', { name: 'p2' }, [[at('attributes'), 'Field required', 22]]],
    ['a missing discriminator', { name: 'p3', attributes: { access_key_id: 'id', secret_access_key: 's' } }, [[at('attributes.authenticator'), 'Field required', 22]]],
    [
      'an unknown tag',
      { name: 'p4', attributes: { authenticator: 'bind' } },
      [[at('attributes'), `Input tag 'bind' found using 'authenticator' does not match any of the expected tags: ${tags}`, 22]],
    ],
    ['an extra key at the top level', { name: 'p5', attributes: cloudflare, token: 'x' }, [[at('token'), 'Extra inputs are not permitted', 22]]],
    [
      'extra keys inside attributes',
      { name: 'p6', attributes: { ...route53, region: 'eu', zone: 'z' } },
      [
        [at('attributes.route53.region'), 'Extra inputs are not permitted', 22],
        [at('attributes.route53.zone'), 'Extra inputs are not permitted', 22],
      ],
    ],
    ['an extra key inside propagation', { name: 'p7', attributes: cloudflare, propagation: { wait: 5 } }, [[at('propagation.wait'), 'Extra inputs are not permitted', 22]]],
    ['a number for a string', { name: 'p8', attributes: { ...route53, access_key_id: 5 } }, [[at('attributes.route53.access_key_id'), 'Input should be a valid string', 22]]],
    ['null for a string', { name: 'p9', attributes: { ...route53, secret_access_key: null } }, [[at('attributes.route53.secret_access_key'), 'Input should be a valid string', 22]]],
    ['a string for an integer', { name: 'p10', attributes: { ...shell, timeout: '60' } }, [[at('attributes.shell.timeout'), 'Input should be a valid integer', 22]]],
    ['a fraction for an integer', { name: 'p11', attributes: { ...shell, delay: 60.5 } }, [[at('attributes.shell.delay'), 'Input should be a valid integer', 22]]],
    ['a list for attributes', { name: 'p12', attributes: [] }, [[at('attributes'), 'Input should be a valid dictionary', 22]]],
    ['a number for the name', { name: 12, attributes: cloudflare }, [[at('name'), 'Input should be a valid string', 22]]],
    ['an empty string', { name: 'p13', attributes: { ...route53, secret_access_key: '' } }, [[at('attributes.route53.secret_access_key'), 'String should have at least 1 character', 22]]],
    ['a too long name', { name: 'n'.repeat(65), attributes: cloudflare }, [[at('name'), 'String should have at most 64 characters', 22]]],
    ['a shell timeout under 5', { name: 'p14', attributes: { ...shell, timeout: 4 } }, [[at('attributes.shell.timeout'), 'Input should be greater than or equal to 5', 22]]],
    [
      'an unknown OVH endpoint',
      { name: 'p15', attributes: { authenticator: 'OVH', application_key: 'k', application_secret: 's', consumer_key: 'c', endpoint: 'ovh-mars' } },
      [[at('attributes.OVH.endpoint'), `Input should be ${Object.keys(OVH_ENDPOINTS).map((e) => `'${e}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`, 22]],
    ],
    ['an unknown propagation mode', { name: 'p16', attributes: cloudflare, propagation: { mode: 'wait' } }, [[at('propagation.mode'), "Input should be 'check', 'delay' or 'off'", 22]]],
    ['a relative shell script, in the schema\'s own words', { name: 'p17', attributes: { ...shell, script: 'hook.sh' } }, [[at('attributes.shell.script'), 'The script must be an absolute path', 22]]],
    // certmid's providers beyond TrueNAS's five are members of the same union and read the same.
    ['a missing rfc2136 field', { name: 'p18', attributes: { ...rfc2136, tsig_secret: undefined } }, [[at('attributes.rfc2136.tsig_secret'), 'Field required', 22]]],
    ['a string rfc2136 port', { name: 'p19', attributes: { ...rfc2136, port: '53' } }, [[at('attributes.rfc2136.port'), 'Input should be a valid integer', 22]]],
    [
      'an unknown rfc2136 algorithm',
      { name: 'p20', attributes: { ...rfc2136, tsig_algorithm: 'md5' } },
      [[at('attributes.rfc2136.tsig_algorithm'), expect.stringMatching(/^Input should be 'hmac-[a-z0-9]+'(, 'hmac-[a-z0-9]+')* or 'hmac-[a-z0-9]+'$/), 22]],
    ],
    [
      'an extra acme-dns key',
      { name: 'p21', attributes: { authenticator: 'acme-dns', api_url: 'https://auth.example.org', username: 'u', password: 'p', subdomain: 's', fulldomain: 'f' } },
      [[at('attributes.acme-dns.fulldomain'), 'Extra inputs are not permitted', 22]],
    ],
    ['an empty hetzner token', { name: 'p22', attributes: { authenticator: 'hetzner', api_token: '' } }, [[at('attributes.hetzner.api_token'), 'String should have at least 1 character', 22]]],
    ['a missing powerdns field', { name: 'p23', attributes: { authenticator: 'powerdns', api_key: 'k' } }, [[at('attributes.powerdns.api_url'), 'Field required', 22]]],
  ])('words %s as pydantic does', async (_, data, expected) => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.create', data))).toEqual(expected);
  });

  it('reports every problem at once', async () => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.create', { name: '', attributes: { authenticator: 'route53', access_key_id: 1 }, token: 1 }))).toEqual([
      [at('name'), 'String should have at least 1 character', 22],
      [at('attributes.route53.access_key_id'), 'Input should be a valid string', 22],
      [at('attributes.route53.secret_access_key'), 'Field required', 22],
      [at('token'), 'Extra inputs are not permitted', 22],
    ]);
  });

  it('words the arguments of every method the same way', async () => {
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.get_instance', '1'))).toEqual([['id', 'Input should be a valid integer', 22]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.delete', null))).toEqual([['id', 'Input should be a valid integer', 22]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.delete'))).toEqual([['id', 'Field required', 22]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.query', 'all'))).toEqual([['filters', 'Input should be a valid list', 22]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.update', 1, {}, {}))).toEqual([['', 'Too many arguments (expected 2, found 3)', 22]]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.verify', { attributes: { authenticator: 'route53' }, name: 'x' }))).toEqual([
      ['dns_authenticator_verify.attributes.route53.access_key_id', 'Field required', 22],
      ['dns_authenticator_verify.attributes.route53.secret_access_key', 'Field required', 22],
      ['dns_authenticator_verify.name', 'Extra inputs are not permitted', 22],
    ]);
  });

  it('leaves the certificate methods\' legacy wording alone', async () => {
    expect(await validationErrorsOf(admin.call('certificate.get_domain_names'))).toEqual([['cert_id', 'attribute required', 22]]);
    expect(await validationErrorsOf(admin.call('certificate.query', [], { bogus: 1 }))).toEqual([['options.bogus', 'Field was not expected', 22]]);
  });

  it('refuses TrueNAS\'s update errors and renames onto its own name', async () => {
    const entry = await create('upd-route53', route53);
    await create('upd-other', route53);
    expect(await validationErrorsOf(update(entry.id, { attributes: cloudflare }))).toEqual([
      ['dns_authenticator_update.attributes.authenticator', 'Authenticator cannot be changed', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { authenticator: 'route53', access_key_id: 'new' } }))).toEqual([
      ['dns_authenticator_update.attributes.route53.secret_access_key', 'Field required', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { ...route53, region: 'eu' }, colour: 'red' }))).toEqual([
      ['dns_authenticator_update.attributes.route53.region', 'Extra inputs are not permitted', 22],
      ['dns_authenticator_update.colour', 'Extra inputs are not permitted', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { secret_access_key: 's' } }))).toEqual([
      ['dns_authenticator_update.attributes.authenticator', 'Field required', 22],
    ]);
    expect(await validationErrorsOf(admin.call('acme.dns.authenticator.update', String(entry.id), { name: 'renamed' }))).toEqual([['id', 'Input should be a valid integer', 22]]);
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

describe('shell checks (TrueNAS\'s FilePath and validate_credentials)', () => {
  /** A user other than the one the script belongs to: only root can run scripts as someone else. */
  const owner = isRoot ? 'root' : me;

  it('refuses a script that is not a file where the schema checks it, whoever runs it', async () => {
    for (const script of [path.join(hooks, 'missing.sh'), hooks]) {
      expect(await validationErrorsOf(create('sh-missing', { ...shell, script }))).toEqual([
        ['dns_authenticator_create.attributes.shell.script', 'Path does not point to a file', 22],
      ]);
    }
    // Schema errors come first: the user is not looked up.
    expect(await validationErrorsOf(create('sh-missing', { ...shell, script: path.join(hooks, 'missing.sh'), user: MISSING_USER, timeout: 1 }))).toEqual([
      ['dns_authenticator_create.attributes.shell.script', 'Path does not point to a file', 22],
      ['dns_authenticator_create.attributes.shell.timeout', 'Input should be greater than or equal to 5', 22],
    ]);
  });

  it('refuses an unknown user with a bare attribute name, before the name in use', async () => {
    await create('sh-taken', shell);
    expect(await validationErrorsOf(create('sh-taken', { ...shell, user: MISSING_USER }))).toEqual([['user', `Unable to locate '${MISSING_USER}' user`, 22]]);
  });

  it('refuses a script its user may not execute, in TrueNAS\'s words', async () => {
    expect(await validationErrorsOf(create('sh-plain', { ...shell, script: PLAIN_FILE, user: owner }))).toEqual([
      ['user', `'${owner}' user does not has permission to execute the script`, 22],
    ]);
  });

  it.runIf(isRoot)('checks as the user who will run it: root may run an owner-only script, nobody may not', async () => {
    expect(await validationErrorsOf(create('sh-owner', { ...shell, script: OWNER_HOOK, user: 'nobody' }))).toEqual([
      ['user', "'nobody' user does not has permission to execute the script", 22],
    ]);
    expect((await create('sh-owner', { ...shell, script: OWNER_HOOK, user: 'root' })).attributes).toMatchObject({ script: OWNER_HOOK, user: 'root' });
  });

  it('checks on update, given attributes or the stored ones', async () => {
    const script = hook('vanishing-hook', 0o755);
    const entry = await create('sh-update', { ...shell, script });
    expect(await validationErrorsOf(update(entry.id, { attributes: { ...shell, script: path.join(hooks, 'missing.sh') } }))).toEqual([
      ['dns_authenticator_update.attributes.shell.script', 'Path does not point to a file', 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { ...shell, script, user: MISSING_USER } }))).toEqual([
      ['user', `Unable to locate '${MISSING_USER}' user`, 22],
    ]);
    expect(await validationErrorsOf(update(entry.id, { attributes: { ...shell, script: PLAIN_FILE, user: owner } }))).toEqual([
      ['user', `'${owner}' user does not has permission to execute the script`, 22],
    ]);
    expect((await update(entry.id, { name: 'sh-updated' })).name).toBe('sh-updated');
    // TrueNAS validates the merged attributes on every update: a script gone since fails a rename.
    fs.rmSync(script);
    expect(await validationErrorsOf(update(entry.id, { name: 'sh-renamed' }))).toEqual([
      ['script', `Unable to validate script: [EINVAL] '${script}' does not exist`, 22],
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
