/**
 * TrueNAS system deploy target: imports the certificate into another TrueNAS (or certmid, which
 * speaks the same API) through its JSON-RPC WebSocket API, optionally makes it that system's UI
 * certificate, and removes the older imports this target made there beyond `keep_previous`.
 *
 * Imports are named `<prefix>_<notBefore yyyymmddHHMMSS>_<serial tail>`; that name is how a later
 * deploy recognises its own earlier imports.
 */
import { X509Certificate } from 'node:crypto';
import { WebSocket, type ClientOptions } from 'ws';
import { z } from 'zod';
import {
  CallTimeoutError,
  CertmidClient,
  ConnectionError,
  JobError,
  JobTimeoutError,
  RpcError,
  type WebSocketConstructor,
} from '../../client/client.js';
import { abortedError, unlessAborted } from '../abort.js';
import { DeployError, type DeployContext, type DeployKind, type DeployMaterial } from '../kind.js';

/** Opening the WebSocket, TLS included. */
const CONNECT_TIMEOUT_MS = 20_000;
/** Each plain call. */
const CALL_TIMEOUT_MS = 60_000;
/** Each job (import, delete) once started. */
const JOB_TIMEOUT_MS = 300_000;
/** TrueNAS certificate names: at most 120 characters; the prefix leaves room for the date and serial. */
const PREFIX_MAX_LENGTH = 90;
const NAME_CHARACTERS = /^[A-Za-z0-9_-]+$/;
/** JSON-RPC "method not found": a remote without system.general.ui_restart. */
const METHOD_NOT_FOUND = -32601;
const REDACTED = '********';

const schema = z
  .object({
    url: z
      .string()
      .min(1)
      .max(2048)
      .describe('The WebSocket API of the other system: wss://host/api/current (ws:// only on a trusted network).'),
    username: z
      .string()
      .min(1)
      .max(128)
      .describe('The account the API key belongs to on the other system (TrueNAS 25.04 logs API keys in with it), e.g. truenas_admin.'),
    api_key: z.string().min(1).max(1024).describe('An API key of that account, as "<id>-<secret>".'),
    verify_tls: z.boolean().default(true).describe('Check the other system\'s HTTPS certificate and host name (wss:// only).'),
    ca_certificate: z
      .string()
      .max(65536)
      .nullable()
      .default(null)
      .describe('PEM of a private CA to trust for the other system\'s HTTPS certificate, instead of the public ones.'),
    name_prefix: z
      .string()
      .max(PREFIX_MAX_LENGTH)
      .nullable()
      .default(null)
      .describe('Start of the imported certificates\' names (letters, digits, _ and -); the local certificate\'s name when null.'),
    ui_certificate: z.boolean().default(false).describe('Make the imported certificate the other system\'s web UI certificate.'),
    keep_previous: z
      .int()
      .min(0)
      .max(100)
      .default(1)
      .describe('How many earlier imports made by this target to keep there; older ones are deleted, unless the other system uses them.'),
  })
  .strict()
  .describe('TrueNAS system');

type TruenasAttributes = z.output<typeof schema>;

function validate(attributes: Record<string, unknown>): Array<[string, string]> {
  const a = attributes as TruenasAttributes;
  const problems: Array<[string, string]> = [];
  let url: URL | null = null;
  try {
    url = new URL(a.url);
  } catch {
    problems.push(['url', 'Not a URL']);
  }
  if (url && url.protocol !== 'wss:' && url.protocol !== 'ws:') problems.push(['url', 'Must be a wss:// (or ws://) URL, such as wss://nas.example.com/api/current']);
  if (url && (url.username || url.password)) problems.push(['url', 'Must not hold credentials; give api_key']);
  if (a.ca_certificate !== null) {
    try {
      new X509Certificate(a.ca_certificate);
    } catch {
      problems.push(['ca_certificate', 'Not a PEM certificate']);
    }
  }
  if (a.name_prefix !== null && !NAME_CHARACTERS.test(a.name_prefix)) problems.push(['name_prefix', 'Use letters, digits, _ and - only']);
  return problems;
}

/** A `ws` WebSocket with the target's TLS settings. */
function webSocketFor(a: TruenasAttributes): WebSocketConstructor {
  const options: ClientOptions = { handshakeTimeout: CONNECT_TIMEOUT_MS, rejectUnauthorized: a.verify_tls };
  if (a.verify_tls && a.ca_certificate !== null) options.ca = a.ca_certificate;
  return class TargetWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, options);
    }
  };
}

/** `<prefix>_<yyyymmddHHMMSS of notBefore>_<last 8 hex digits of the serial>`: the same material, the same name. */
function importName(prefix: string, certificatePem: string, serial: string): string {
  const notBefore = new Date(new X509Certificate(certificatePem).validFrom);
  const stamp = notBefore.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${prefix}_${stamp}_${serial.toUpperCase().slice(-8)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function defaultPrefix(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, PREFIX_MAX_LENGTH) || 'certmid';
}

interface RemoteCertificate {
  id: number;
  name: string;
  serial?: number | string | null;
  fingerprint?: string | null;
  used_by?: unknown[];
}

/** A remote serial (decimal, a number or a string when large) against openssl's hex. */
function sameSerial(remote: RemoteCertificate['serial'], hex: string): boolean {
  if (remote === null || remote === undefined) return false;
  try {
    return BigInt(remote) === BigInt(`0x${hex}`);
  } catch {
    return false;
  }
}

function normalizedFingerprint(text: string): string {
  return text.replace(/[^0-9A-Fa-f]/g, '').toUpperCase();
}

/** TrueNAS entries show the SHA-1 fingerprint. */
function sameFingerprint(remote: RemoteCertificate['fingerprint'], material: DeployMaterial): boolean {
  if (!remote) return false;
  return normalizedFingerprint(remote) === normalizedFingerprint(new X509Certificate(material.certificatePem).fingerprint);
}

/** Validation triples `[[attribute, message, errno], …]` as TrueNAS sends them. */
function validationTriples(extra: unknown): Array<[string, string]> {
  if (!Array.isArray(extra)) return [];
  return extra
    .filter((item): item is [unknown, unknown, ...unknown[]] => Array.isArray(item) && item.length >= 2)
    .map(([attribute, message]) => [String(attribute ?? ''), String(message ?? '')]);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A failed remote step (`doing`: "importing the certificate") in the operator's words; validation failures name the remote's attribute. */
function remoteFailure(error: unknown, host: string, doing: string): DeployError {
  if (error instanceof DeployError) return error;
  if (error instanceof JobError) {
    const triples = error.excInfo?.type === 'VALIDATION' ? validationTriples(error.excInfo.extra) : [];
    if (triples.length > 0) return new DeployError(`${host} refused ${doing}: ${triples.map(([attribute, message]) => `${attribute}: ${message}`).join('; ')}`);
    return new DeployError(`${capitalized(doing)} on ${host} failed: ${error.message}`);
  }
  if (error instanceof RpcError) {
    const triples = validationTriples(error.data?.extra);
    if (triples.length > 0) return new DeployError(`${host} refused ${doing}: ${triples.map(([attribute, message]) => `${attribute}: ${message}`).join('; ')}`);
    return new DeployError(`${host} refused ${doing}: ${error.message}`);
  }
  if (error instanceof ConnectionError) return new DeployError(`Lost the connection to ${host} while ${doing}: ${error.message}`);
  if (error instanceof CallTimeoutError || error instanceof JobTimeoutError) return new DeployError(`${host} did not answer while ${doing}: ${error.message}`);
  return new DeployError(`${capitalized(doing)} on ${host} failed: ${(error as Error).message}`);
}

/** Whether a refusal to delete says the certificate is in use (TrueNAS's check_cert_deps words). */
function isInUseRefusal(error: unknown): boolean {
  const text = error instanceof Error ? error.message : '';
  return /being used|in use/i.test(text);
}

async function runDeploy(client: CertmidClient, a: TruenasAttributes, context: DeployContext, host: string): Promise<void> {
  const { material, signal, progress } = context;
  const step = <T>(doing: string, promise: Promise<T>) => unlessAborted(signal, promise).catch((error: unknown) => Promise.reject(remoteFailure(error, host, doing)));

  progress(15, `Logging in to ${host} as ${a.username}`);
  const login = await step(
    'logging in',
    client.call<{ response_type: string }>('auth.login_ex', { mechanism: 'API_KEY_PLAIN', username: a.username, api_key: a.api_key }),
  );
  if (login.response_type !== 'SUCCESS') {
    throw new DeployError(`${host} refused the API key for ${a.username} (${login.response_type})`);
  }

  const prefix = a.name_prefix ?? defaultPrefix(material.name);
  const ownName = new RegExp(`^${escapeRegExp(prefix)}_\\d{14}_[0-9A-F]+$`);
  progress(25, `Looking for earlier imports named ${prefix}_… on ${host}`);
  const earlier = (
    await step('listing certificates', client.call<RemoteCertificate[]>('certificate.query', [['name', '^', `${prefix}_`]]))
  ).filter((entry) => ownName.test(entry.name));

  let current = earlier.find((entry) => sameSerial(entry.serial, material.serial) && sameFingerprint(entry.fingerprint, material));
  if (current) {
    progress(60, `Already imported on ${host} as ${current.name}`);
  } else {
    const name = importName(prefix, material.certificatePem, material.serial);
    progress(40, `Importing the certificate into ${host} as ${name}`);
    const create: Record<string, unknown> = { name, create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: material.fullchainPem };
    if (material.privateKeyPem !== null) create.privatekey = material.privateKeyPem;
    current = await step(
      'importing the certificate',
      client.callJob<RemoteCertificate>('certificate.create', [create], { jobTimeout: JOB_TIMEOUT_MS }),
    );
  }
  const imported = current;

  let uiCertificateId: number | null = null;
  let uiChanged = false;
  if (a.ui_certificate || a.keep_previous < earlier.length) {
    const general = await step('reading the UI settings', client.call<{ ui_certificate?: { id?: number } | number | null }>('system.general.config'));
    const ui = general.ui_certificate;
    uiCertificateId = typeof ui === 'number' ? ui : (ui?.id ?? null);
  }
  if (a.ui_certificate && uiCertificateId !== imported.id) {
    progress(70, `Making ${imported.name} the UI certificate of ${host}`);
    await step('setting the UI certificate', client.call('system.general.update', { ui_certificate: imported.id }));
    uiCertificateId = imported.id;
    uiChanged = true;
  }

  // Newest first: the ids a system gives grow with each import.
  const older = earlier.filter((entry) => entry.id !== imported.id).sort((x, y) => y.id - x.id).slice(a.keep_previous);
  // Read again: what uses them may have changed since the listing (the UI certificate just did).
  const prunable = older.length === 0 ? [] : await step('listing certificates', client.call<RemoteCertificate[]>('certificate.query', [['id', 'in', older.map((entry) => entry.id)]]));
  for (const entry of prunable.sort((x, y) => y.id - x.id)) {
    if (entry.id === uiCertificateId || (Array.isArray(entry.used_by) && entry.used_by.length > 0)) continue;
    progress(80, `Deleting the earlier import ${entry.name} from ${host}`);
    try {
      await unlessAborted(signal, client.callJob('certificate.delete', [entry.id], { jobTimeout: JOB_TIMEOUT_MS }));
    } catch (error) {
      // The remote knows uses this side cannot see (its services, its own deploy targets).
      if (isInUseRefusal(error)) continue;
      throw remoteFailure(error, host, `deleting ${entry.name}`);
    }
  }

  if (uiChanged) {
    progress(90, `Asking ${host} to serve the new UI certificate`);
    try {
      await unlessAborted(signal, client.call('system.general.ui_restart'));
    } catch (error) {
      if (!(error instanceof RpcError && error.code === METHOD_NOT_FOUND)) throw remoteFailure(error, host, 'restarting the UI');
    }
  }
  progress(100, `Deployed to ${host} as ${imported.name}`);
}

async function deploy(context: DeployContext): Promise<void> {
  const a = context.attributes as TruenasAttributes;
  const { signal, progress } = context;
  if (signal.aborted) throw abortedError();
  const host = (() => {
    try {
      return new URL(a.url).host;
    } catch {
      return a.url;
    }
  })();
  if (a.ui_certificate && context.material.privateKeyPem === null) {
    throw new DeployError(`${context.material.name} has no private key, so it cannot be the UI certificate of ${host}`);
  }
  // Whatever a remote says back, the key never reaches an error text.
  const scrub = (error: DeployError) => (error.message.includes(a.api_key) ? new DeployError(error.message.split(a.api_key).join(REDACTED)) : error);

  const url = a.url;
  progress(5, `Connecting to ${url}`);
  let client: CertmidClient;
  try {
    const connecting = CertmidClient.connect(url, { WebSocket: webSocketFor(a), callTimeout: CALL_TIMEOUT_MS });
    // A connection that opens after an abort is closed at once.
    connecting.then((late) => signal.aborted && void late.close(), () => undefined);
    client = await unlessAborted(signal, connecting);
  } catch (error) {
    if (error instanceof DeployError) throw scrub(error);
    const message = (error as Error).message;
    const tls = url.startsWith('wss:') && /certificate|self.signed|altnames|verify/i.test(message);
    throw scrub(new DeployError(tls ? `${message} (give the CA that signed it as ca_certificate)` : message));
  }
  const onAbort = () => void client.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await runDeploy(client, a, context, host);
  } catch (error) {
    throw scrub(error instanceof DeployError ? error : remoteFailure(error, host, 'deploying'));
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Not awaited: a peer that never answers the close must not hold up the outcome.
    void client.close().catch(() => undefined);
  }
}

/** Another TrueNAS (or certmid) system, through its API. */
export const truenasKind: DeployKind = {
  key: 'TRUENAS',
  label: 'TrueNAS system',
  schema,
  secretFields: ['api_key'],
  validate,
  deploy,
};
