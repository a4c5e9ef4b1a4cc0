/**
 * TrueNAS system deploy target against a second certmid daemon, which speaks TrueNAS's API: the
 * certificate is imported once per serial, can become the remote's UI certificate (openssl
 * s_client judges what its HTTPS presents), older imports are pruned but never one in use, and
 * failures read plainly without the API key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { DeployError, type DeployMaterial } from '../../src/deploy/kind.js';
import { truenasKind } from '../../src/deploy/kinds/truenas.js';
import { deployContext, materialOf, opensslMaterial } from '../helpers/deploy-material.js';
import { closedPort } from '../helpers/net.js';
import { openssl, opensslOk } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Remote = Entry & { serial: number | string; used_by: unknown[] };

/** The rejection of a deploy, which must be a DeployError. */
async function deployFailure(promise: Promise<void>): Promise<string> {
  const error = await promise.then(
    () => new Error('expected the deploy to fail'),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(DeployError);
  return (error as Error).message;
}

/** The serial of the leaf a fresh TLS connection to the port is shown, as openssl prints it. */
async function servedSerial(port: number): Promise<string | null> {
  const run = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost'], '');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
  return leaf ? (await opensslOk(['x509', '-noout', '-serial'], leaf)).stdout.trim().replace(/^serial=/, '') : null;
}

describe('TrueNAS system deploy target', () => {
  let local: TestServer;
  let remote: TestServer;
  let localAdmin: CertmidClient;
  let remoteAdmin: CertmidClient;
  let apiKey: string;
  let localCa: Entry;
  /** Three successive certificates of the local `nas`, as renewals would make them. */
  let versions: DeployMaterial[];

  const attributes = (overrides: Record<string, unknown> = {}) =>
    truenasKind.schema.parse({ url: remote.url, username: remote.admin.username, api_key: apiKey, ...overrides }) as Record<string, unknown>;
  const deploy = (attrs: Record<string, unknown>, material: DeployMaterial, signal?: AbortSignal) =>
    truenasKind.deploy(deployContext(local.daemon.app, attrs, material, signal));
  const imports = async (prefix: string) =>
    (await remoteAdmin.call<Remote[]>('certificate.query', [['name', '^', `${prefix}_`]], { order_by: ['id'] }));
  const uiCertificateId = async () => (await remoteAdmin.call<{ ui_certificate: { id: number } }>('system.general.config')).ui_certificate.id;
  const isSerial = (entry: Remote, material: DeployMaterial) => BigInt(entry.serial) === BigInt(`0x${material.serial}`);

  beforeAll(async () => {
    local = await startTestServer();
    remote = await startTestServer({ env: { HTTPS_PORT: '0' } });
    localAdmin = await adminClient(local);
    remoteAdmin = await adminClient(remote);
    apiKey = (await remoteAdmin.call<{ key: string }>('api_key.create', { name: 'deploy from local', username: remote.admin.username })).key;
    localCa = await createRootCa(localAdmin, 'local-root');
    versions = [];
    for (const n of [1, 2, 3]) {
      const entry = await createInternalCertificate(localAdmin, `nas-${n}`, localCa.id, { common: 'localhost', san: ['localhost', '127.0.0.1'] });
      versions.push(await materialOf(entry, 'nas'));
    }
  }, 120_000);
  afterAll(async () => {
    await localAdmin?.close();
    await remoteAdmin?.close();
    await local?.close();
    await remote?.close();
  });

  it('imports the certificate with its chain and key under the prefix, named by date and serial', async () => {
    const [first] = versions;
    const context = deployContext(local.daemon.app, attributes({ name_prefix: 'imported' }), first!);
    await truenasKind.deploy(context);
    const [entry, ...others] = await imports('imported');
    expect(others).toEqual([]);
    expect(entry!.name).toMatch(/^imported_\d{14}_[0-9A-F]{1,8}$/);
    expect(isSerial(entry!, first!)).toBe(true);
    expect(entry!.fingerprint_sha256).toBe(first!.fingerprint);
    expect((entry!.chain_list as string[]).length).toBe(2);
    const remoteKey = (await opensslOk(['pkey', '-pubout'], entry!.privatekey!)).stdout;
    expect(remoteKey).toBe((await opensslOk(['pkey', '-pubout'], first!.privateKeyPem!)).stdout);
    expect(context.reports.at(-1)).toEqual([100, `Deployed to 127.0.0.1:${remote.port} as ${entry!.name}`]);

    // Without a prefix, the local certificate's name.
    await deploy(attributes(), first!);
    expect((await imports('nas')).map((item) => item.name)).toEqual([expect.stringMatching(/^nas_\d{14}_[0-9A-F]+$/)]);
  });

  it('does not import the same certificate twice', async () => {
    const [first] = versions;
    await deploy(attributes({ name_prefix: 'twice' }), first!);
    const context = deployContext(local.daemon.app, attributes({ name_prefix: 'twice' }), first!);
    await truenasKind.deploy(context);
    expect(await imports('twice')).toHaveLength(1);
    expect(context.reports.map(([, text]) => text)).toContain(`Already imported on 127.0.0.1:${remote.port} as ${(await imports('twice'))[0]!.name}`);
  });

  it('imports a certificate openssl made, with a 20-byte serial, once', async () => {
    const material = await opensslMaterial('from-openssl');
    expect(material.serial.length).toBeGreaterThan(30);
    await deploy(attributes(), material);
    await deploy(attributes(), material);
    const [entry, ...others] = await imports('from-openssl');
    expect(others).toEqual([]);
    expect(typeof entry!.serial).toBe('string');
    expect(isSerial(entry!, material)).toBe(true);
    expect(entry!.name.endsWith(`_${material.serial.slice(-8)}`)).toBe(true);
  });

  it('makes it the UI certificate, served at once, and prunes earlier imports per keep_previous but never the one in use', async () => {
    const [first, second, third] = versions as [DeployMaterial, DeployMaterial, DeployMaterial];
    const https = remote.daemon.httpsPort!;

    await deploy(attributes({ name_prefix: 'ui', ui_certificate: true, keep_previous: 0 }), first);
    const [one] = await imports('ui');
    expect(await uiCertificateId()).toBe(one!.id);
    expect(await servedSerial(https)).toBe(first.serial);

    // Not the UI certificate, nothing kept: yet the first stays, as the remote's UI presents it.
    await deploy(attributes({ name_prefix: 'ui', keep_previous: 0 }), second);
    const afterSecond = await imports('ui');
    expect(afterSecond.map((entry) => isSerial(entry, first) || isSerial(entry, second))).toEqual([true, true]);
    expect(afterSecond[0]!.used_by).toEqual([expect.objectContaining({ type: 'UI' })]);
    expect(await uiCertificateId()).toBe(one!.id);

    // The third takes the UI; one earlier import is kept (the second), the oldest goes.
    await deploy(attributes({ name_prefix: 'ui', ui_certificate: true, keep_previous: 1 }), third);
    const afterThird = await imports('ui');
    expect(afterThird).toHaveLength(2);
    expect(isSerial(afterThird[0]!, second)).toBe(true);
    expect(isSerial(afterThird[1]!, third)).toBe(true);
    expect(await uiCertificateId()).toBe(afterThird[1]!.id);
    expect(await servedSerial(https)).toBe(third.serial);

    await deploy(attributes({ name_prefix: 'ui', ui_certificate: true, keep_previous: 0 }), third);
    const last = await imports('ui');
    expect(last.map((entry) => entry.id)).toEqual([afterThird[1]!.id]);
  });

  it('leaves alone certificates on the remote that this target did not make', async () => {
    const [first, second] = versions as [DeployMaterial, DeployMaterial];
    // Same prefix, but not a name of this target's form.
    await remoteAdmin.callJob('certificate.create', [
      { name: 'keep_mine', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: first.fullchainPem, privatekey: first.privateKeyPem },
    ]);
    await deploy(attributes({ name_prefix: 'keep', keep_previous: 0 }), first);
    await deploy(attributes({ name_prefix: 'keep', keep_previous: 0 }), second);
    const names = (await imports('keep')).map((entry) => entry.name);
    expect(names).toEqual(['keep_mine', expect.stringMatching(/^keep_\d{14}_/)]);
  });

  it('checks the remote\'s TLS certificate, trusting a private CA when given one', async () => {
    const remoteCa = await createRootCa(remoteAdmin, 'remote-root');
    const served = await createInternalCertificate(remoteAdmin, 'remote-ui', remoteCa.id, { common: 'localhost', san: ['localhost', '127.0.0.1'] });
    await remoteAdmin.call('system.general.update', { ui_certificate: served.id });
    const url = `wss://127.0.0.1:${remote.daemon.httpsPort}/api/current`;
    const [first] = versions;

    const untrusted = await deployFailure(deploy(attributes({ url, name_prefix: 'tls' }), first!));
    expect(untrusted).toMatch(new RegExp(`^Cannot connect to ${url.replace(/[.]/g, '\\.')}: (unable to verify the first certificate|self-signed certificate in certificate chain|unable to get local issuer certificate) \\(give the CA that signed it as ca_certificate\\)$`));
    const otherCa = await deployFailure(deploy(attributes({ url, name_prefix: 'tls', ca_certificate: localCa.certificate }), first!));
    expect(otherCa).toMatch(/^Cannot connect to wss:.*: (unable to verify the first certificate|self-signed certificate in certificate chain|unable to get local issuer certificate) \(give the CA/);
    expect(await imports('tls')).toEqual([]);

    await deploy(attributes({ url, name_prefix: 'tls', ca_certificate: remoteCa.certificate }), first!);
    expect(await imports('tls')).toHaveLength(1);
    await deploy(attributes({ url, name_prefix: 'tls', verify_tls: false }), first!);
    expect(await imports('tls')).toHaveLength(1);

    // Signed by the trusted CA, but for another name than the URL's.
    const elsewhere = await createInternalCertificate(remoteAdmin, 'remote-elsewhere', remoteCa.id, { common: 'other.test', san: ['other.test'] });
    await remoteAdmin.call('system.general.update', { ui_certificate: elsewhere.id });
    const wrongName = await deployFailure(deploy(attributes({ url, name_prefix: 'tls', ca_certificate: remoteCa.certificate }), first!));
    expect(wrongName).toContain("Hostname/IP does not match certificate's altnames");
  });

  it('reports a refused API key, an unreachable host and a remote validation error without the key', async () => {
    const [first, second] = versions as [DeployMaterial, DeployMaterial];
    const wrongKey = `${apiKey.split('-')[0]}-${'x'.repeat(40)}`;
    const refused = await deployFailure(deploy(attributes({ api_key: wrongKey }), first));
    expect(refused).toBe(`127.0.0.1:${remote.port} refused the API key for ${remote.admin.username} (AUTH_ERR)`);

    const port = await closedPort();
    const unreachable = await deployFailure(deploy(attributes({ url: `ws://127.0.0.1:${port}/api/current` }), first));
    expect(unreachable).toMatch(new RegExp(`^Cannot connect to ws://127\\.0\\.0\\.1:${port}/api/current`));

    // A key that is not the certificate's: the remote refuses the import and says which field.
    const mismatched = await deployFailure(deploy(attributes({ name_prefix: 'bad' }), { ...first, privateKeyPem: second.privateKeyPem }));
    expect(mismatched).toMatch(new RegExp(`^127\\.0\\.0\\.1:${remote.port} refused importing the certificate: certificate_create\\.privatekey: `));
    expect(await imports('bad')).toEqual([]);

    for (const text of [refused, unreachable, mismatched]) {
      expect(text).not.toContain(apiKey);
      // The secret is all after the first "-" (base64url may hold "-" too).
      expect(text).not.toContain(apiKey.slice(apiKey.indexOf('-') + 1));
      expect(text).not.toContain(wrongKey);
    }
  });

  it('stops when its abort signal fires', async () => {
    const aborted = new AbortController();
    aborted.abort();
    expect(await deployFailure(deploy(attributes({ name_prefix: 'abort' }), versions[0]!, aborted.signal))).toBe('The deploy was aborted');

    const controller = new AbortController();
    const context = deployContext(local.daemon.app, attributes({ name_prefix: 'abort' }), versions[0]!, controller.signal);
    context.progress = (percent, description) => {
      context.reports.push([percent, description]);
      if (description.startsWith('Looking for earlier imports')) controller.abort();
    };
    expect(await deployFailure(truenasKind.deploy(context))).toBe('The deploy was aborted');
    expect(await imports('abort')).toEqual([]);
  });

  it('refuses to make a certificate without a key the UI certificate', async () => {
    const failure = await deployFailure(deploy(attributes({ ui_certificate: true }), { ...versions[0]!, privateKeyPem: null }));
    expect(failure).toBe(`nas has no private key, so it cannot be the UI certificate of 127.0.0.1:${remote.port}`);
  });

  it('names the attribute of each schema or validation error', () => {
    const parse = (overrides: Record<string, unknown>) => {
      const result = truenasKind.schema.safeParse({ url: 'wss://nas/api/current', username: 'truenas_admin', api_key: '1-abc', ...overrides });
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    };
    expect(parse({})).toEqual([]);
    expect(parse({ keep_previous: -1 })).toEqual(['keep_previous']);
    expect(parse({ verify_tls: 'yes' })).toEqual(['verify_tls']);
    expect(parse({ api_key: undefined })).toEqual(['api_key']);
    expect(parse({ apikey: 'x' })).toEqual(['']);

    const problems = (overrides: Record<string, unknown>) => truenasKind.validate!(truenasKind.schema.parse({ url: 'wss://nas/api/current', username: 'u', api_key: '1-abc', ...overrides })).map(([field]) => field);
    expect(problems({})).toEqual([]);
    expect(problems({ url: 'https://nas/api/current' })).toEqual(['url']);
    expect(problems({ url: 'nas' })).toEqual(['url']);
    expect(problems({ url: 'wss://root:pw@nas/api/current' })).toEqual(['url']);
    expect(problems({ ca_certificate: 'not a certificate' })).toEqual(['ca_certificate']);
    expect(problems({ ca_certificate: localCa.certificate })).toEqual([]);
    expect(problems({ name_prefix: 'web server' })).toEqual(['name_prefix']);
    expect(truenasKind.secretFields).toEqual(['api_key']);
  });
});
