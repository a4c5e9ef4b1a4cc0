/**
 * Real ACME and DNS servers for end-to-end tests: Debian's `named` (BIND 9) as the authoritative
 * server taking TSIG-signed RFC 2136 updates, and Debian's `pebble` as the ACME CA, its resolver
 * pointed at that BIND. Each call starts its own instance on free loopback ports with its own temp
 * directory, so test files can run in parallel; `stop()` ends the process and removes the directory.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { issueCertificate } from '../../src/crypto/certificates.js';
import { caDefaultExtensions, defaultExtensions } from '../../src/crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey } from '../../src/crypto/keys.js';
import { TSIG_ALGORITHMS, type TsigAlgorithm } from '../../src/dns/dns-message.js';
import { queryRecords, type DnsServer } from '../../src/dns/rfc2136.js';

const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Tools

interface AcmeTools {
  pebble: string;
  named: string;
  dig: string;
}

/** Debian package → the file it installs that the harness runs. */
const TOOL_FILES: Record<keyof AcmeTools, { pkg: string; suffix: string }> = {
  pebble: { pkg: 'pebble', suffix: '/bin/pebble' },
  named: { pkg: 'bind9', suffix: '/sbin/named' },
  dig: { pkg: 'bind9-dnsutils', suffix: '/bin/dig' },
};

async function packageFile(pkg: string, suffix: string): Promise<string | null> {
  try {
    const { stdout } = await run('dpkg', ['-L', pkg]);
    const file = stdout.split('\n').find((line) => line.endsWith(suffix));
    if (!file) return null;
    await access(file, constants.X_OK);
    return file;
  } catch {
    return null;
  }
}

let toolsLookup: Promise<{ tools: Partial<AcmeTools>; missing: string[] }> | undefined;

function findTools(): Promise<{ tools: Partial<AcmeTools>; missing: string[] }> {
  toolsLookup ??= (async () => {
    const tools: Partial<AcmeTools> = {};
    const missing: string[] = [];
    for (const [tool, { pkg, suffix }] of Object.entries(TOOL_FILES) as Array<[keyof AcmeTools, { pkg: string; suffix: string }]>) {
      const file = await packageFile(pkg, suffix);
      if (file) tools[tool] = file;
      else missing.push(`${tool} (Debian package ${pkg})`);
    }
    return { tools, missing };
  })();
  return toolsLookup;
}

async function requireTools(): Promise<AcmeTools> {
  const { tools, missing } = await findTools();
  if (missing.length) throw new Error(`The ACME test harness needs ${missing.join(', ')}: apt-get install pebble bind9 bind9-utils bind9-dnsutils`);
  return tools as AcmeTools;
}

/**
 * Whether pebble, named and dig are installed. Suites skip when not, except in CI
 * (`CI=true`), where a missing tool throws so the run fails instead of silently skipping.
 */
export async function acmeToolsAvailable(): Promise<boolean> {
  const { missing } = await findTools();
  if (missing.length && process.env.CI === 'true') await requireTools();
  return missing.length === 0;
}

// ---------------------------------------------------------------------------------------------
// Ports

/** Reservations shared by every test process, so parallel files never pick the same port. */
const PORT_LOCKS = path.join(tmpdir(), 'certmid-test-ports');

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => (socket.close(), resolve(false)));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** A loopback port the kernel says is free for TCP, checked free for UDP too (DNS uses both). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: chosen } = server.address() as net.AddressInfo;
        server.close(() => resolve(chosen));
      });
    });
    if (await bindable(port)) return port;
  }
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Reserves `count` free ports with lock files holding our pid. BIND binds its UDP port with
 * SO_REUSEADDR, so two instances could share a port unnoticed: the locks keep harness instances
 * apart; a lock whose process is gone is taken over.
 */
async function reservePorts(count: number): Promise<{ ports: number[]; release(): Promise<void> }> {
  await mkdir(PORT_LOCKS, { recursive: true });
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    const lock = path.join(PORT_LOCKS, String(port));
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      ports.push(port);
    } catch {
      const holder = Number(await readFile(lock, 'utf8').catch(() => '0'));
      if (holder && !processAlive(holder)) await unlink(lock).catch(() => undefined);
    }
  }
  return { ports, release: () => Promise.all(ports.map((port) => unlink(path.join(PORT_LOCKS, String(port))).catch(() => undefined))).then(() => undefined) };
}

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Children must not outlive a test process that dies without calling `stop()`. */
function killChildrenOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));
}

interface Daemon {
  /** Its stdout and stderr so far (the last 64 KiB). */
  output(): string;
  /** Settles with the exit code once the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnDaemon(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Daemon {
  killChildrenOnExit();
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => (collect(Buffer.from(`${error.message}\n`)), resolve(null)));
    child.once('exit', (code) => resolve(code));
  });
  void exited.then(() => children.delete(child));
  return {
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A daemon that exited before it was ready, with what it printed. */
class DaemonExited extends Error {}

/** Polls `ready` until it returns true; fails with the daemon's output if it exits or time runs out. */
async function waitUntilReady(what: string, daemon: Daemon, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void daemon.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new DaemonExited(`${what} exited (code ${exitCode}) before it was ready. Its output:\n${daemon.output()}`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await daemon.stop();
  throw new Error(`${what} was not ready within ${timeoutMs} ms. Its output:\n${daemon.output()}`);
}

/** Starts a daemon on reserved ports, again on new ports if it exits early (a port taken meanwhile). */
async function startOnFreePorts<T>(portCount: number, start: (ports: number[]) => Promise<T>): Promise<{ result: T; releasePorts(): Promise<void> }> {
  for (let attempt = 1; ; attempt++) {
    const { ports, release } = await reservePorts(portCount);
    try {
      return { result: await start(ports), releasePorts: release };
    } catch (error) {
      await release();
      if (!(error instanceof DaemonExited) || attempt === 3) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BIND

/** A TSIG key as BIND's `key` statement and the `rfc2136` attributes take it. */
export interface TsigCredentials {
  name: string;
  algorithm: TsigAlgorithm;
  /** Base64. */
  secret: string;
}

/** A running harness BIND; usable directly as the `DnsServer` of `queryRecords`. */
export interface BindServer extends DnsServer {
  host: '127.0.0.1';
  /** `host:port`, as Pebble's `-dnsserver` takes it. */
  address: string;
  /** The main test zone: SOA, NS, A for the apex, `ns1` and `www`, open to updates. */
  zone: string;
  /** A zone whose `_acme-challenge` names are CNAMEs into `delegatedZone`. */
  aliasZone: string;
  /** The zone the aliases point into, open to updates. */
  delegatedZone: string;
  /** The CNAMEs of `aliasZone`: owner → target, without trailing dots. */
  challengeAliases: Readonly<Record<string, string>>;
  /** hmac-sha256 key that may update every zone. */
  tsig: TsigCredentials;
  /** hmac-sha512 key that may update every zone (the one of `tsigKeys`). */
  tsigSha512: TsigCredentials;
  /** One key per TSIG algorithm certmid supports (hmac-sha1 … hmac-sha512), each may update every zone. */
  tsigKeys: Readonly<Record<TsigAlgorithm, TsigCredentials>>;
  /** hmac-sha256 key the server knows but that may not update anything (REFUSED). */
  tsigReadOnly: TsigCredentials;
  /** What named printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** A zone another server holds, which a harness BIND resolves for its clients by forwarding there. */
export interface ForwardedZone {
  zone: string;
  server: DnsServer;
}

/** Options of `startBind`. */
export interface BindOptions {
  /** Main zone name; default "example.test". */
  zone?: string;
  /** More lines for the main zone file, e.g. `@ IN NS ns2` and `ns2 IN AAAA ::1`. */
  zoneRecords?: readonly string[];
  /** Zones of other servers this one resolves too, so Pebble and certmid see them through it. */
  forwardZones?: readonly ForwardedZone[];
  /** How long to wait for named to answer; default 15 s. */
  startTimeoutMs?: number;
}

const ALIAS_ZONE = 'alias.test';
const DELEGATED_ZONE = 'delegated.test';

/** The digest size of each algorithm: the secret length `tsig-keygen -a <algorithm>` generates. */
const TSIG_SECRET_BYTES: Record<TsigAlgorithm, number> = { 'hmac-sha1': 20, 'hmac-sha224': 28, 'hmac-sha256': 32, 'hmac-sha384': 48, 'hmac-sha512': 64 };

const tsigKey = (name: string, algorithm: TsigAlgorithm, bytes = TSIG_SECRET_BYTES[algorithm]): TsigCredentials => ({
  name,
  algorithm,
  secret: randomBytes(bytes).toString('base64'),
});

function zoneFile(zone: string, extra: readonly string[] = []): string {
  return [
    '$TTL 60',
    `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
    `@ IN NS ns1.${zone}.`,
    '@ IN A 127.0.0.1',
    'ns1 IN A 127.0.0.1',
    'www IN A 127.0.0.1',
    ...extra,
    '',
  ].join('\n');
}

/**
 * A root zone of our own, so that recursion never leaves the machine. Each forwarded zone is
 * delegated in it: BIND forwards only below a delegation, and answers "no such name" from the
 * root zone otherwise. The glue address is never used, the forwarders are.
 */
function rootZoneFile(forwards: readonly ForwardedZone[]): string {
  const delegations = forwards.flatMap(({ zone }) => [`${zone}. IN NS ns1.${zone}.`, `ns1.${zone}. IN A 127.0.0.1`]);
  return ['$TTL 60', '@ IN SOA ns1.root.test. hostmaster.root.test. 1 3600 600 86400 60', '@ IN NS ns1.root.test.', 'ns1.root.test. IN A 127.0.0.1', ...delegations, ''].join('\n');
}

/** A primary zone of a harness BIND, read from `<name>.zone`, updatable with `updaters`' keys only. */
interface PrimaryZone {
  name: string;
  updaters: readonly TsigCredentials[];
}

interface NamedSetup {
  keys: readonly TsigCredentials[];
  zones: readonly PrimaryZone[];
  /** Answer recursive queries from 127.0.0.1, through the local root zone and `forwards`. */
  recursion: boolean;
  forwards: readonly ForwardedZone[];
}

function namedConf(dir: string, port: number, setup: NamedSetup): string {
  const allowUpdate = (zone: PrimaryZone): string => (zone.updaters.length ? zone.updaters.map((key) => `key "${key.name}";`).join(' ') : 'none;');
  return [
    'options {',
    `  directory "${dir}";`,
    `  pid-file "${dir}/named.pid";`,
    `  lock-file "${dir}/named.lock";`,
    `  session-keyfile "${dir}/session.key";`,
    `  managed-keys-directory "${dir}";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    '  listen-on-v6 { none; };',
    // Recursion only so that answers follow CNAMEs into another zone (Pebble's stub resolver does not
    // chase them itself) and certmid's resolver finds every test zone; the local root zone answers
    // every other name, so no query leaves.
    ...(setup.recursion ? ['  recursion yes;', '  allow-recursion { 127.0.0.1; };'] : ['  recursion no;']),
    '  dnssec-validation no;',
    '  notify no;',
    '  allow-transfer { none; };',
    '};',
    // No rndc channel: the default one (127.0.0.1:953 with /etc/bind/rndc.key) would clash between instances.
    'controls { };',
    ...setup.keys.map((key) => `key "${key.name}" { algorithm ${key.algorithm}; secret "${key.secret}"; };`),
    ...(setup.recursion ? ['zone "." { type primary; file "root.zone"; };'] : []),
    ...setup.zones.map((zone) => `zone "${zone.name}" { type primary; file "${zone.name}.zone"; allow-update { ${allowUpdate(zone)} }; };`),
    ...setup.forwards.map(({ zone, server }) => `zone "${zone}" { type forward; forward only; forwarders { ${server.host} port ${server.port}; }; };`),
    '',
  ].join('\n');
}

/** A named process of the harness on its reserved port. */
interface NamedProcess {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `named -g` (foreground, logging to stderr) as the current user (root here) on a free
 * loopback port, with the zone files already in `dir` and `setup`; resolves once named answers the
 * TXT `marker` at `_harness.<markerZone>`. `stop()` also removes `dir`.
 */
async function launchNamed(dir: string, setup: NamedSetup, markerZone: string, marker: string, startTimeoutMs: number): Promise<NamedProcess> {
  const tools = await requireTools();
  try {
    const { result, releasePorts } = await startOnFreePorts(1, async ([port = 0]) => {
      const conf = path.join(dir, 'named.conf');
      await writeFile(conf, namedConf(dir, port, setup));
      const daemon = spawnDaemon(tools.named, ['-g', '-4', '-n', '1', '-c', conf]);
      const server = { host: '127.0.0.1' as const, port };
      await waitUntilReady(`named on 127.0.0.1:${port}`, daemon, startTimeoutMs, async () => (await queryTxt(server, `_harness.${markerZone}`, 500)).includes(marker));
      return { daemon, port };
    });
    const { daemon, port } = result;
    return {
      port,
      output: daemon.output,
      async stop() {
        await daemon.stop();
        await releasePorts();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Starts a BIND with three zones open to updates: the main zone (default example.test),
 * `alias.test` whose `_acme-challenge` names are CNAMEs into `delegated.test`, and `delegated.test`;
 * plus an empty root zone and `options.forwardZones`. It answers recursive queries too, as the
 * resolver of Pebble and of certmid in the tests.
 */
export async function startBind(options: BindOptions = {}): Promise<BindServer> {
  await requireTools();
  const zone = options.zone ?? 'example.test';
  if (zone === ALIAS_ZONE || zone === DELEGATED_ZONE) throw new Error(`startBind: ${zone} is taken by the CNAME test zones`);
  const forwards = options.forwardZones ?? [];
  const dir = await mkdtemp(path.join(tmpdir(), 'certmid-bind-'));
  const tsigKeys = Object.fromEntries(TSIG_ALGORITHMS.map((algorithm) => [algorithm, tsigKey(`certmid-update-${algorithm.replace(/^hmac-/, '')}`, algorithm)])) as Record<
    TsigAlgorithm,
    TsigCredentials
  >;
  const tsig = tsigKeys['hmac-sha256'];
  const tsigSha512 = tsigKeys['hmac-sha512'];
  const tsigReadOnly = tsigKey('certmid-readonly', 'hmac-sha256');
  const marker = randomBytes(8).toString('hex');
  const challengeAliases = {
    [`_acme-challenge.${ALIAS_ZONE}`]: `${ALIAS_ZONE}.${DELEGATED_ZONE}`,
    [`_acme-challenge.www.${ALIAS_ZONE}`]: `www.${ALIAS_ZONE}.${DELEGATED_ZONE}`,
  };
  await writeFile(path.join(dir, `${zone}.zone`), zoneFile(zone, [`_harness IN TXT "${marker}"`, ...(options.zoneRecords ?? [])]));
  await writeFile(path.join(dir, `${ALIAS_ZONE}.zone`), zoneFile(ALIAS_ZONE, Object.entries(challengeAliases).map(([owner, target]) => `${owner}. IN CNAME ${target}.`)));
  await writeFile(path.join(dir, `${DELEGATED_ZONE}.zone`), zoneFile(DELEGATED_ZONE));
  await writeFile(path.join(dir, 'root.zone'), rootZoneFile(forwards));
  const updaters = Object.values(tsigKeys);
  const zones = [zone, ALIAS_ZONE, DELEGATED_ZONE].map((name) => ({ name, updaters }));
  const named = await launchNamed(dir, { keys: [...updaters, tsigReadOnly], zones, recursion: true, forwards }, zone, marker, options.startTimeoutMs ?? 15_000);
  return {
    host: '127.0.0.1',
    port: named.port,
    address: `127.0.0.1:${named.port}`,
    zone,
    aliasZone: ALIAS_ZONE,
    delegatedZone: DELEGATED_ZONE,
    challengeAliases,
    tsig,
    tsigSha512,
    tsigKeys,
    tsigReadOnly,
    output: named.output,
    stop: named.stop,
  };
}

/** A running second BIND holding a user's main zone, as a registrar's server does. */
export interface RegistrarBindServer extends DnsServer {
  host: '127.0.0.1';
  address: string;
  /** Its only zone; it takes no updates and knows no TSIG key. */
  zone: string;
  /** The `_acme-challenge` CNAMEs of `zone`: owner → target in the update server's delegated zone, without trailing dots. */
  challengeAliases: Readonly<Record<string, string>>;
  output(): string;
  stop(): Promise<void>;
}

/** Options of `startRegistrarBind`. */
export interface RegistrarBindOptions {
  /** Its zone; default "registrar.test". */
  zone?: string;
  /** Where its `_acme-challenge` names point: default the `delegated.test` of `startBind`. */
  delegatedZone?: string;
  startTimeoutMs?: number;
}

/**
 * Starts a BIND that holds one zone, as the registrar of a user's main zone does: authoritative
 * only (no recursion), no update allowed, and its `_acme-challenge` and `_acme-challenge.www`
 * names CNAMEs into the delegated zone of a `startBind` server. That one resolves this zone when
 * given it in `forwardZones`.
 */
export async function startRegistrarBind(options: RegistrarBindOptions = {}): Promise<RegistrarBindServer> {
  await requireTools();
  const zone = options.zone ?? 'registrar.test';
  const delegated = options.delegatedZone ?? DELEGATED_ZONE;
  const dir = await mkdtemp(path.join(tmpdir(), 'certmid-bind-'));
  const marker = randomBytes(8).toString('hex');
  const challengeAliases = {
    [`_acme-challenge.${zone}`]: `${zone}.${delegated}`,
    [`_acme-challenge.www.${zone}`]: `www.${zone}.${delegated}`,
  };
  const cnames = Object.entries(challengeAliases).map(([owner, target]) => `${owner}. IN CNAME ${target}.`);
  await writeFile(path.join(dir, `${zone}.zone`), zoneFile(zone, [`_harness IN TXT "${marker}"`, ...cnames]));
  const named = await launchNamed(dir, { keys: [], zones: [{ name: zone, updaters: [] }], recursion: false, forwards: [] }, zone, marker, options.startTimeoutMs ?? 15_000);
  return { host: '127.0.0.1', port: named.port, address: `127.0.0.1:${named.port}`, zone, challengeAliases, output: named.output, stop: named.stop };
}

// ---------------------------------------------------------------------------------------------
// Pebble

/** A running harness Pebble. */
export interface PebbleServer {
  /** The ACME directory, e.g. https://127.0.0.1:PORT/dir. */
  directoryUrl: string;
  /** The management interface (roots, intermediates, certificate status). */
  managementUrl: string;
  /** PEM of the CA that issued Pebble's HTTPS certificate: trust it to talk to Pebble. */
  caBundlePem: string;
  /** Pebble's issuing root (GET /roots/0 on the management port); new on every start. */
  rootCertificatePem(): Promise<string>;
  /** What pebble printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Options of `startPebble`. */
export interface PebbleOptions {
  /** `host:port` of the DNS server Pebble validates DNS-01 challenges against (the harness BIND). */
  dnsServer: string;
  /** Require External Account Binding with this key id and base64url HMAC key. */
  externalAccountBinding?: { kid: string; hmacKey: string };
  /** Validity of issued certificates in seconds (Pebble's default is 5 years). */
  certificateValidityPeriod?: number;
  /** Extra environment, overriding the harness's PEBBLE_* settings. */
  env?: Record<string, string>;
  /** How long to wait for Pebble to answer; default 20 s. */
  startTimeoutMs?: number;
}

/** GET over HTTPS trusting only `caPem`; never rejects on an HTTP status. */
export function httpsGet(url: string, caPem: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca: caPem, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** An ephemeral CA and a certificate for 127.0.0.1 and localhost signed by it (ECDSA P-256). */
async function pebbleTlsFiles(dir: string): Promise<{ caPem: string; certificate: string; privateKey: string }> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 7 * 86_400_000), digest: 'SHA256' as const };
  const caKey = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const caPem = await issueCertificate({
    ...validity,
    subject: { common: 'certmid test harness CA' },
    san: [],
    publicKey: caKey,
    signer: { privateKey: caKey, certificatePem: null },
    serial: BigInt(randomInt(1, 2 ** 47)),
    extensions: caDefaultExtensions(),
  });
  const serverKey = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const extensions = defaultExtensions();
  extensions.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH'], extension_critical: false };
  const serverPem = await issueCertificate({
    ...validity,
    subject: { common: 'localhost' },
    san: [
      { type: 'DNS', value: 'localhost' },
      { type: 'IP', value: '127.0.0.1' },
    ],
    publicKey: serverKey,
    signer: { privateKey: caKey, certificatePem: caPem },
    serial: BigInt(randomInt(1, 2 ** 47)),
    extensions,
  });
  const certificate = path.join(dir, 'cert.pem');
  const privateKey = path.join(dir, 'key.pem');
  await writeFile(certificate, serverPem);
  await writeFile(privateKey, exportPrivateKeyPem(serverKey), { mode: 0o600 });
  return { caPem, certificate, privateKey };
}

/**
 * Starts `pebble -config <dir>/pebble-config.json -dnsserver <dnsServer>` on free loopback ports,
 * serving HTTPS with a certificate the harness makes. Challenges are really validated
 * (PEBBLE_VA_ALWAYS_VALID=0) without random sleeps (PEBBLE_VA_NOSLEEP=1); nonces are never rejected
 * at random (PEBBLE_WFE_NONCEREJECT=0) and authorizations never reused (PEBBLE_AUTHZREUSE=0), so
 * every order runs its DNS-01 challenges and tests are deterministic.
 */
export async function startPebble(options: PebbleOptions): Promise<PebbleServer> {
  const tools = await requireTools();
  const dir = await mkdtemp(path.join(tmpdir(), 'certmid-pebble-'));
  try {
    const tls = await pebbleTlsFiles(dir);
    const env = {
      ...process.env,
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_VA_ALWAYS_VALID: '0',
      PEBBLE_AUTHZREUSE: '0',
      ...options.env,
    };
    const { result, releasePorts } = await startOnFreePorts(4, async ([listen = 0, management = 0, http = 0, tlsPort = 0]) => {
      const eab = options.externalAccountBinding;
      const config = {
        pebble: {
          listenAddress: `127.0.0.1:${listen}`,
          managementListenAddress: `127.0.0.1:${management}`,
          certificate: tls.certificate,
          privateKey: tls.privateKey,
          // Only used to validate http-01 and tls-alpn-01 challenges, which these tests never offer.
          httpPort: http,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: Boolean(eab),
          ...(eab ? { externalAccountMACKeys: { [eab.kid]: eab.hmacKey } } : {}),
          ...(options.certificateValidityPeriod ? { certificateValidityPeriod: options.certificateValidityPeriod } : {}),
        },
      };
      const configFile = path.join(dir, 'pebble-config.json');
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const daemon = spawnDaemon(tools.pebble, ['-config', configFile, '-dnsserver', options.dnsServer], env);
      const directoryUrl = `https://127.0.0.1:${listen}/dir`;
      const managementUrl = `https://127.0.0.1:${management}`;
      await waitUntilReady(`pebble on 127.0.0.1:${listen}`, daemon, options.startTimeoutMs ?? 20_000, async () => {
        const directory = await httpsGet(directoryUrl, tls.caPem, 1000);
        const roots = await httpsGet(`${managementUrl}/roots/0`, tls.caPem, 1000);
        return directory.status === 200 && roots.status === 200;
      });
      return { daemon, directoryUrl, managementUrl };
    });
    const { daemon, directoryUrl, managementUrl } = result;
    return {
      directoryUrl,
      managementUrl,
      caBundlePem: tls.caPem,
      async rootCertificatePem() {
        const { status, body } = await httpsGet(`${managementUrl}/roots/0`, tls.caPem);
        if (status !== 200) throw new Error(`GET ${managementUrl}/roots/0 answered ${status}: ${body}`);
        return body;
      },
      output: daemon.output,
      async stop() {
        await daemon.stop();
        await releasePorts();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Assertions

/** The TXT values `server` answers for `name` (each record's strings joined), through the repo's DNS client. */
export function queryTxt(server: DnsServer, name: string, timeoutMs = 2000): Promise<string[]> {
  return queryRecords(server, name, 'TXT', { timeoutMs });
}

/**
 * The TXT values of `name` as `dig` reads them: an independent judge of the repo's DNS code. Each
 * record's quoted strings are joined, as `queryTxt` does. `recursive` asks as a resolver does (RD
 * set), so BIND follows `_acme-challenge` CNAMEs into the delegated zone, as Pebble sees them.
 * `tsig` signs the query with that key (`dig -y`) and has dig verify the signed answer.
 */
export async function digTxt(server: DnsServer, name: string, options: { recursive?: boolean; tsig?: TsigCredentials } = {}): Promise<string[]> {
  const { dig } = await requireTools();
  const recursion = options.recursive ? '+recurse' : '+norecurse';
  const key = options.tsig ? ['-y', `${options.tsig.algorithm}:${options.tsig.name}:${options.tsig.secret}`] : [];
  const { stdout } = await run(dig, [`@${server.host}`, '-p', String(server.port), ...key, '+short', recursion, '+time=2', '+tries=1', 'TXT', name]);
  // dig's own TSIG check of the answer: a key BIND does not share fails here, not silently.
  if (options.tsig && /^;; (Couldn't verify signature|.*TSIG)/m.test(stdout)) throw new Error(`dig -y ${options.tsig.algorithm}:${options.tsig.name}: ${stdout.trim()}`);
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('"'))
    .map((line) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1] ?? '').join(''));
}
