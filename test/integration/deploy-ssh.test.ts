/**
 * SSH/SFTP deploy target against Debian's OpenSSH server, started by the tests on loopback ports:
 * files arrive whole with their modes, the host key is pinned, the reload command runs, and each
 * failure an operator can meet reads plainly. openssl judges that key and certificate match.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import type { DeployMaterial } from '../../src/deploy/kind.js';
import { DeployError } from '../../src/deploy/kind.js';
import { sshKind } from '../../src/deploy/kinds/ssh.js';
import { deployContext, materialOf } from '../helpers/deploy-material.js';
import { closedPort } from '../helpers/net.js';
import { opensslOk } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';

const available = sshdAvailable();

/** The rejection of a deploy, which must be a DeployError. */
async function deployFailure(promise: Promise<void>): Promise<string> {
  const error = await promise.then(
    () => new Error('expected the deploy to fail'),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(DeployError);
  return (error as Error).message;
}

describe.skipIf(!available)('SSH/SFTP deploy target', () => {
  let sshd: TestSshd;
  let server: TestServer;
  let admin: CertmidClient;
  let material: DeployMaterial;
  let renewed: DeployMaterial;
  let target: string;

  /** Attributes as the schema parses them, logging in with the test key to the test server's dir. */
  const attributes = (overrides: Record<string, unknown> = {}) =>
    sshKind.schema.parse({
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      private_key: sshd.clientKey,
      host_key: sshd.hostKeyLine,
      certificate_path: path.join(target, 'cert.pem'),
      chain_path: path.join(target, 'chain.pem'),
      private_key_path: path.join(target, 'key.pem'),
      fullchain_path: path.join(target, 'fullchain.pem'),
      ...overrides,
    }) as Record<string, unknown>;
  const deploy = (attrs: Record<string, unknown>, what = material, signal?: AbortSignal) =>
    sshKind.deploy(deployContext(server.daemon.app, attrs, what, signal));
  const read = (name: string) => fs.readFileSync(path.join(target, name), 'utf8');
  const modeOf = (name: string) => (fs.statSync(path.join(target, name)).mode & 0o777).toString(8);

  beforeAll(async () => {
    sshd = await startSshd();
    server = await startTestServer();
    admin = await adminClient(server);
    const ca = await createRootCa(admin, 'deploy-root');
    material = await materialOf(await createInternalCertificate(admin, 'web', ca.id, { common: 'web.test', san: ['web.test'] }));
    renewed = await materialOf(await createInternalCertificate(admin, 'web-renewed', ca.id, { common: 'web.test', san: ['web.test'] }), 'web');
  }, 60_000);
  afterAll(async () => {
    await admin?.close();
    await server?.close();
    await sshd?.stop();
  });
  beforeEach(() => {
    target = fs.mkdtempSync(path.join(sshd.dir, 'target-'));
  });

  it('copies certificate, chain, key and full chain byte for byte with their modes, then runs the reload command', async () => {
    const marker = path.join(target, 'reloaded');
    const context = deployContext(server.daemon.app, attributes({ reload_command: `echo "reloaded as $(id -un)" > ${marker}` }), material);
    await sshKind.deploy(context);

    expect(read('cert.pem')).toBe(material.certificatePem);
    expect(read('chain.pem')).toBe(material.chainPem);
    expect(read('fullchain.pem')).toBe(material.fullchainPem);
    expect(read('key.pem')).toBe(material.privateKeyPem);
    expect([modeOf('cert.pem'), modeOf('chain.pem'), modeOf('fullchain.pem'), modeOf('key.pem')]).toEqual(['644', '644', '644', '600']);
    // openssl: the key on the host belongs to the certificate on the host, which the chain there verifies.
    const certificateKey = (await opensslOk(['x509', '-noout', '-pubkey', '-in', path.join(target, 'cert.pem')])).stdout;
    const privateKeyPublic = (await opensslOk(['pkey', '-pubout', '-in', path.join(target, 'key.pem')])).stdout;
    expect(privateKeyPublic).toBe(certificateKey);
    const serial = (await opensslOk(['x509', '-noout', '-serial', '-in', path.join(target, 'fullchain.pem')])).stdout.trim();
    expect(serial).toBe(`serial=${material.serial}`);
    await opensslOk(['verify', '-CAfile', path.join(target, 'chain.pem'), path.join(target, 'cert.pem')]);

    expect(read('reloaded')).toBe('reloaded as root\n');
    expect(context.reports.at(-1)).toEqual([100, `Deployed to ${sshd.host}`]);
    expect(context.reports.map(([, text]) => text)).toContain(`Running the reload command on ${sshd.host}`);
    const percents = context.reports.map(([percent]) => percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
  });

  it('replaces files in place on a renewal, with the modes asked for and no temporary file left', async () => {
    await deploy(attributes());
    await deploy(attributes({ mode: '0640', key_mode: '0400' }), renewed);
    expect(read('cert.pem')).toBe(renewed.certificatePem);
    expect(read('key.pem')).toBe(renewed.privateKeyPem);
    expect([modeOf('cert.pem'), modeOf('key.pem')]).toEqual(['640', '400']);
    expect(fs.readdirSync(target).sort()).toEqual(['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem']);
  });

  it('writes only the files that have a path', async () => {
    await deploy(attributes({ certificate_path: null, chain_path: null, private_key_path: null }));
    expect(fs.readdirSync(target)).toEqual(['fullchain.pem']);
    expect(read('fullchain.pem')).toBe(material.fullchainPem);
  });

  it('accepts the host key pinned by its SHA256 fingerprint, as ssh-keygen -lf prints it alone or whole', async () => {
    const fingerprint = sshd.hostKeyFingerprintLine.split(/\s+/)[1]!;
    expect(fingerprint).toMatch(/^SHA256:/);
    await deploy(attributes({ host_key: fingerprint, chain_path: null, private_key_path: null, fullchain_path: null }));
    expect(read('cert.pem')).toBe(material.certificatePem);
    fs.rmSync(path.join(target, 'cert.pem'));
    await deploy(attributes({ host_key: sshd.hostKeyFingerprintLine, chain_path: null, private_key_path: null, fullchain_path: null }));
    expect(read('cert.pem')).toBe(material.certificatePem);
  });

  it('asks for the pinned key\'s type when the pin is a key line, whatever key the server prefers', async () => {
    await deploy(attributes({ host_key: sshd.otherHostKeyLine }));
    expect(read('cert.pem')).toBe(material.certificatePem);
  });

  it('refuses a server whose host key is not the pinned one, showing the key it presented, and touches no file', async () => {
    fs.writeFileSync(path.join(target, 'cert.pem'), 'previous');
    // Another ed25519 key than the server's, pinned as a line and as a fingerprint.
    const stranger = fs.readFileSync(path.join(path.dirname(sshd.dir), 'client_ed25519.pub'), 'utf8');
    const presented = sshd.hostKeyFingerprintLine.split(/\s+/)[1]!;
    const asLine = await deployFailure(deploy(attributes({ host_key: stranger })));
    expect(asLine).toMatch(new RegExp(`^The host key ${presented.replace(/[+/]/g, '\\$&')} presented by 127\\.0\\.0\\.1:${sshd.port} does not match the pinned key SHA256:`));
    const strangerFingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(path.dirname(sshd.dir), 'client_ed25519.pub')], { encoding: 'utf8' }).split(/\s+/)[1]!;
    const asFingerprint = await deployFailure(deploy(attributes({ host_key: strangerFingerprint })));
    expect(asFingerprint).toContain(`does not match the pinned key ${strangerFingerprint}`);
    // A key type the server has no key of.
    const rsaFile = path.join(path.dirname(sshd.dir), 'stranger_rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsaFile]);
    const noSuchType = await deployFailure(deploy(attributes({ host_key: fs.readFileSync(`${rsaFile}.pub`, 'utf8') })));
    expect(noSuchType).toBe(`127.0.0.1:${sshd.port} offers no ssh-rsa host key, the type of the pinned key`);
    expect(fs.readdirSync(target)).toEqual(['cert.pem']);
    expect(read('cert.pem')).toBe('previous');
  });

  it('reports a refused login for a key the server does not know and for an account it does not allow', async () => {
    // ssh2 reads OpenSSH and PEM (PKCS#1/SEC1) keys; an unknown but readable key is an RSA PEM one.
    const rsa = (await opensslOk(['genrsa', '-traditional', '2048'])).stdout;
    expect(sshKind.validate!(attributes({ private_key: rsa }))).toEqual([]);
    expect(await deployFailure(deploy(attributes({ private_key: rsa })))).toBe(`Authentication as root failed at 127.0.0.1:${sshd.port}: the server refused the key`);
    expect(await deployFailure(deploy(attributes({ username: 'nobody' })))).toBe(`Authentication as nobody failed at 127.0.0.1:${sshd.port}: the server refused the key`);
    expect(sshKind.validate!(attributes({ private_key: 'not a key' }))).toEqual([['private_key', expect.stringMatching(/^Cannot read the private key/)]]);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it('reports a refused connection, and a server that never speaks SSH within the connect timeout', async () => {
    const port = await closedPort();
    expect(await deployFailure(deploy(attributes({ port })))).toBe(`Connection refused by 127.0.0.1:${port}`);

    const accepted: net.Socket[] = [];
    const silent = net.createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      const failure = await deployFailure(deploy(attributes({ port: silentPort, connect_timeout: 1 })));
      expect(failure).toBe(`Timed out connecting to 127.0.0.1:${silentPort}: no SSH login within 1 s`);
    } finally {
      for (const socket of accepted) socket.destroy();
      silent.close();
    }
  });

  it('logs in with a PKCS#8 PEM key as openssl writes it, and refuses the PKCS#8 keys ssh2 cannot read with advice', async () => {
    const pkcs8 = (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
    expect(pkcs8).toContain('BEGIN PRIVATE KEY');
    const keyFile = path.join(path.dirname(sshd.dir), 'pkcs8_ec.pem');
    fs.writeFileSync(keyFile, pkcs8, { mode: 0o600 });
    sshd.authorize(execFileSync('ssh-keygen', ['-y', '-f', keyFile], { encoding: 'utf8' }));
    expect(sshKind.validate!(attributes({ private_key: pkcs8 }))).toEqual([]);
    await deploy(attributes({ private_key: pkcs8, chain_path: null, fullchain_path: null, private_key_path: null }));
    expect(read('cert.pem')).toBe(material.certificatePem);

    const ed25519 = (await opensslOk(['genpkey', '-algorithm', 'ed25519'])).stdout;
    expect(sshKind.validate!(attributes({ private_key: ed25519 }))).toEqual([['private_key', expect.stringContaining('OpenSSH format')]]);
  });

  it('logs in with an encrypted key and its passphrase, and names the passphrase when it is wrong', async () => {
    const keyFile = path.join(path.dirname(sshd.dir), 'encrypted_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-C', 'encrypted', '-f', keyFile]);
    sshd.authorize(fs.readFileSync(`${keyFile}.pub`, 'utf8'));
    const encrypted = fs.readFileSync(keyFile, 'utf8');
    expect(sshKind.validate!(attributes({ private_key: encrypted, passphrase: 'correct horse' }))).toEqual([]);
    await deploy(attributes({ private_key: encrypted, passphrase: 'correct horse', chain_path: null, fullchain_path: null, private_key_path: null }));
    expect(read('cert.pem')).toBe(material.certificatePem);

    const wrong = sshKind.validate!(attributes({ private_key: encrypted, passphrase: 'wrong' }));
    expect(wrong.map(([field]) => field)).toEqual(['passphrase']);
    expect(sshKind.validate!(attributes({ private_key: encrypted })).map(([field]) => field)).toEqual(['private_key']);
    for (const [, message] of wrong) expect(message).not.toContain('wrong');
  });

  it('reports permission denied and a missing directory with the path', async () => {
    const readOnly = await deployFailure(deploy(attributes({ port: sshd.readOnlyPort })));
    expect(readOnly).toBe(`Permission denied on ${path.join(target, 'cert.pem')}`);
    const missing = path.join(target, 'no-such-dir', 'cert.pem');
    expect(await deployFailure(deploy(attributes({ certificate_path: missing })))).toBe(`No such directory for ${missing}`);
    expect(fs.readdirSync(target)).toEqual([]);

    // A later file failing leaves the earlier ones as they were, and no temporary file behind.
    fs.writeFileSync(path.join(target, 'cert.pem'), 'previous');
    const lastMissing = path.join(target, 'no-such-dir', 'key.pem');
    expect(await deployFailure(deploy(attributes({ private_key_path: lastMissing })))).toBe(`No such directory for ${lastMissing}`);
    expect(fs.readdirSync(target)).toEqual(['cert.pem']);
    expect(read('cert.pem')).toBe('previous');
  });

  it('reports a failing reload command with its exit code and the tail of its stderr, after the files are in place', async () => {
    const failure = await deployFailure(deploy(attributes({ reload_command: "echo starting; echo 'nginx: [emerg] bad config' >&2; exit 3" })));
    expect(failure).toBe('The reload command exited 3: nginx: [emerg] bad config');
    expect(read('cert.pem')).toBe(material.certificatePem);
  });

  it('stops a reload command that outlives its timeout', async () => {
    const failure = await deployFailure(deploy(attributes({ reload_command: 'sleep 20', reload_timeout: 1 })));
    expect(failure).toBe('The reload command did not finish within 1 s');
  });

  it('stops when its abort signal fires, before connecting or while the reload command runs', async () => {
    const aborted = new AbortController();
    aborted.abort();
    expect(await deployFailure(deploy(attributes(), material, aborted.signal))).toBe('The deploy was aborted');
    expect(fs.readdirSync(target)).toEqual([]);

    const controller = new AbortController();
    const context = deployContext(server.daemon.app, attributes({ reload_command: `touch ${path.join(target, 'started')}; sleep 20` }), material, controller.signal);
    const running = sshKind.deploy(context);
    for (let i = 0; i < 600 && !fs.existsSync(path.join(target, 'started')); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fs.existsSync(path.join(target, 'started'))).toBe(true);
    controller.abort();
    expect(await deployFailure(running)).toBe('The deploy was aborted');
  });

  it('refuses a certificate without a private key when a key path is given', async () => {
    const failure = await deployFailure(deploy(attributes(), { ...material, privateKeyPem: null }));
    expect(failure).toBe(`web has no private key to copy to ${path.join(target, 'key.pem')}`);
  });

  it('names the attribute of each schema or validation error', () => {
    const parse = (overrides: Record<string, unknown>) => {
      const result = sshKind.schema.safeParse({ host: 'h', username: 'u', password: 'p', host_key: sshd.hostKeyLine, certificate_path: '/c', ...overrides });
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    };
    expect(parse({})).toEqual([]);
    expect(parse({ port: 0 })).toEqual(['port']);
    expect(parse({ mode: '644x' })).toEqual(['mode']);
    expect(parse({ key_mode: 'rw' })).toEqual(['key_mode']);
    expect(parse({ reload_timeout: 0 })).toEqual(['reload_timeout']);
    expect(parse({ hostname: 'h' })).toEqual(['']);
    expect(parse({ host: undefined })).toEqual(['host']);

    const problems = (overrides: Record<string, unknown>) => sshKind.validate!(attributes(overrides)).map(([field]) => field);
    expect(problems({})).toEqual([]);
    expect(problems({ password: 'secret' })).toEqual(['private_key']);
    expect(problems({ private_key: null })).toEqual(['private_key']);
    expect(problems({ private_key: null, password: 'secret' })).toEqual([]);
    expect(problems({ certificate_path: 'relative/cert.pem' })).toEqual(['certificate_path']);
    expect(problems({ fullchain_path: '/etc/ssl/' })).toEqual(['fullchain_path']);
    expect(problems({ certificate_path: null, chain_path: null, private_key_path: null, fullchain_path: null })).toEqual(['certificate_path']);
    expect(problems({ host_key: 'ssh-ed25519 notbase64!' })).toEqual(['host_key']);
    expect(problems({ host_key: 'SHA256:short' })).toEqual(['host_key']);
    expect(problems({ host_key: `ssh-rsa ${sshd.hostKeyLine.split(' ')[1]}` })).toEqual(['host_key']);
    expect(problems({ host_key: `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}` })).toEqual([]);
    expect(sshKind.secretFields).toEqual(['private_key', 'passphrase', 'password']);
  });
});
