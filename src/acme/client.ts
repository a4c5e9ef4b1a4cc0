/**
 * acme-client with explicit trust and timeouts. acme-client sends every request through one shared
 * axios instance that retries network failures for over a minute and then throws a misleading
 * TypeError; here that instance gets our own transport instead: each request has a deadline, trusts
 * exactly the CA bundle of the ACME server it talks to (or Node's public roots), stops when the job
 * is aborted, and fails with a message that names the server and the cause. RFC 8555 problem
 * documents (§6.7) become errors that keep their type, detail and subproblems.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import type acme from 'acme-client';
import type { AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { CallError } from '../errors/call-error.js';
import type { Errname } from '../errors/codes.js';
import { ValidationErrors } from '../errors/validation-errors.js';

/** How requests reach one ACME server. */
export interface AcmeTransport {
  /** PEM CA certificates trusted instead of Node's public roots (a private ACME CA); null: the public roots. */
  caBundle: string | null;
  /** Limit for each request, connection and TLS handshake included. */
  timeoutMs: number;
  /** The job's signal: aborting it ends the request at once with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/** Long enough for a slow CA under load, short enough that a dead one fails the job promptly. */
export const ACME_REQUEST_TIMEOUT_MS = 30_000;

/** An RFC 8555 §6.7 problem document, as the job error's `extra` carries it. */
export interface AcmeProblem {
  type: string;
  detail: string;
  status: number;
  /** Per-identifier problems (RFC 8555 §6.7.1). */
  subproblems: Array<{ type: string; detail: string; identifier: string | null }>;
}

/** The ACME server answered with a problem document. */
export class AcmeProblemError extends Error {
  constructor(readonly problem: AcmeProblem) {
    super(describeProblem(problem));
    this.name = 'AcmeProblemError';
  }
}

/** The ACME server could not be reached, was not trusted, or did not answer in time. */
export class AcmeTransportError extends Error {
  constructor(
    message: string,
    readonly errname: Errname,
  ) {
    super(message);
    this.name = 'AcmeTransportError';
  }
}

const transports = new AsyncLocalStorage<AcmeTransport>();
const DEFAULT_TRANSPORT: AcmeTransport = { caBundle: null, timeoutMs: ACME_REQUEST_TIMEOUT_MS };
const agents = new Map<string | null, https.Agent>();

/** One keep-alive agent per trust setting, so requests to one CA reuse their TLS sessions. */
function agentFor(caBundle: string | null): https.Agent {
  let agent = agents.get(caBundle);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, ...(caBundle === null ? {} : { ca: caBundle }) });
    agents.set(caBundle, agent);
  }
  return agent;
}

/** TLS verification failures: the server's chain does not lead to a trusted root. */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  // A trusted CA's name, but not its key: the chain does not lead to it either.
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A transport failure in words a user can act on; the job's own abort passes through unchanged. */
function transportError(url: URL, error: unknown, transport: AcmeTransport, deadline: AbortSignal): unknown {
  if (transport.signal?.aborted) return transport.signal.reason;
  const server = `the ACME server at ${url.origin}`;
  if (deadline.aborted) return new AcmeTransportError(`No answer from ${server} within ${transport.timeoutMs / 1000} s`, 'ETIMEDOUT');
  const { code = '', message } = error as NodeJS.ErrnoException;
  if (code === 'ECONNREFUSED') return new AcmeTransportError(`The ACME server at ${url.origin} refused the connection: nothing listens there`, 'ECONNREFUSED');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new AcmeTransportError(`Cannot resolve the ACME server name "${url.hostname}"`, 'EFAULT');
  if (UNTRUSTED_CODES.has(code)) {
    const hint = transport.caBundle === null ? "for a private ACME CA, give its CA certificate as the registration's ca_bundle" : "it does not chain to the registration's ca_bundle";
    return new AcmeTransportError(`The TLS certificate of ${server} is not trusted (${message}): ${hint}`, 'ESSLCERTVERIFICATIONERROR');
  }
  return new AcmeTransportError(`Cannot reach ${server}: ${message}`, 'EFAULT');
}

/** A problem document (RFC 8555 §6.7) from a response body or an order's or challenge's `error`, or null. */
export function toProblem(value: unknown, status: number): AcmeProblem | null {
  if (value === null || typeof value !== 'object') return null;
  const document = value as Record<string, unknown>;
  if (typeof document.type !== 'string') return null;
  const subproblems = Array.isArray(document.subproblems) ? (document.subproblems as Array<Record<string, unknown>>) : [];
  return {
    type: document.type,
    detail: typeof document.detail === 'string' ? document.detail : '',
    status: typeof document.status === 'number' ? document.status : status,
    subproblems: subproblems.map((sub) => ({
      type: String(sub.type ?? ''),
      detail: String(sub.detail ?? ''),
      identifier: (sub.identifier as { value?: string } | undefined)?.value ?? null,
    })),
  };
}

function problemOf(status: number, body: string): AcmeProblem | null {
  try {
    return toProblem(JSON.parse(body), status);
  } catch {
    return null;
  }
}

/** The error for a response of 400 or more; acme-client only ever treats such answers as failures. */
function responseError(method: string, url: URL, status: number, statusText: string, body: string): Error {
  const problem = problemOf(status, body);
  if (problem) return new AcmeProblemError(problem);
  return new AcmeTransportError(`The ACME server at ${url.origin} answered ${status} ${statusText} to ${method} ${url.pathname}`, 'EFAULT');
}

/** RFC 8555 §6.5: acme-client retries a request rejected for its nonce, so that answer must reach it. */
const isBadNonce = (status: number, body: string): boolean => status === 400 && problemOf(status, body)?.type === 'urn:ietf:params:acme:error:badNonce';

/**
 * The axios adapter acme-client's requests go through. Its errors carry no axios `config`, so
 * acme-client's retry interceptor passes them on untouched.
 */
function send(config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
  const transport = transports.getStore() ?? DEFAULT_TRANSPORT;
  const url = new URL(config.url ?? '');
  const method = (config.method ?? 'get').toUpperCase();
  const body = config.data === undefined || config.data === null ? undefined : String(config.data);
  const headers = { ...(config.headers.toJSON() as Record<string, string>), ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) };
  const deadline = AbortSignal.timeout(transport.timeoutMs);
  const signal = transport.signal ? AbortSignal.any([transport.signal, deadline]) : deadline;
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const fail = (error: unknown): void => reject(transportError(url, error, transport, deadline));
    const request = (secure ? https : http).request(url, { method, headers, signal, ...(secure ? { agent: agentFor(transport.caBundle) } : {}) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = response.statusCode ?? 0;
        if (status >= 400 && !isBadNonce(status, text)) return reject(responseError(method, url, status, response.statusMessage ?? '', text));
        resolve({ data: text, status, statusText: response.statusMessage ?? '', headers: response.headers as AxiosResponse['headers'], config, request });
      });
    });
    request.on('error', fail);
    request.end(body);
  });
}

let library: Promise<typeof acme> | undefined;

/**
 * acme-client, loaded on first use (with axios and the rest it brings, it would weigh on every
 * daemon that never talks ACME), its requests sent through `send`.
 */
export function loadAcmeClient(): Promise<typeof acme> {
  library ??= import('acme-client').then(({ default: loaded }) => {
    loaded.axios.defaults.adapter = send;
    return loaded;
  });
  return library;
}

/** Runs `work` with every acme-client request inside it going through `transport`. */
export function withTransport<T>(transport: AcmeTransport, work: () => Promise<T>): Promise<T> {
  return transports.run(transport, work);
}

/** Options of an account's client. */
export interface AccountClientOptions {
  directoryUrl: string;
  /** PEM private key of the account. */
  accountKeyPem: string;
  /** The account URL, once registered. */
  accountUrl?: string | undefined;
  /** RFC 8555 §7.3.4 External Account Binding, for registering with CAs that require it. */
  externalAccountBinding?: { kid: string; hmacKey: string } | undefined;
}

/**
 * How often one request is sent again after a badNonce rejection (RFC 8555 §6.5), each time with the
 * nonce of the rejection. acme-client's own 5 fails an issuance of some 30 requests about half the
 * time at a CA that rejects 60% of nonces (e.g. replicas that do not share nonces); 20 makes that
 * rare while a CA rejecting every nonce still fails after 21 quick attempts.
 */
export const BAD_NONCE_RETRIES = 20;

/** An acme-client `Client` for one account; use it inside `withTransport`. */
export async function accountClient(options: AccountClientOptions): Promise<acme.Client> {
  const { Client } = await loadAcmeClient();
  const client = new Client({
    directoryUrl: options.directoryUrl,
    accountKey: options.accountKeyPem,
    ...(options.accountUrl ? { accountUrl: options.accountUrl } : {}),
    ...(options.externalAccountBinding ? { externalAccountBinding: options.externalAccountBinding } : {}),
  });
  // Not in acme-client's types: its HttpClient (src/http.js) reads this on every badNonce answer.
  (client as unknown as { http: { maxBadNonceRetries: number } }).http.maxBadNonceRetries = BAD_NONCE_RETRIES;
  return client;
}

/** RFC 9773 §7.4: the certificate named in `replaces` has a replacement already. */
const ALREADY_REPLACED = 'urn:ietf:params:acme:error:alreadyReplaced';

type OrderRequest = Parameters<acme.Client['createOrder']>[0];

/**
 * Places a new order (RFC 8555 §7.4) for `identifiers`; use it inside `withTransport`. `replaces`
 * names the certificate it renews by its RFC 9773 §4.1 identifier (RFC 9773 §5): give it only to a
 * CA that offers renewalInfo. A CA that answers "already replaced" gets the order again without it,
 * since the hint must never keep a certificate from being renewed.
 */
export async function createOrder(client: acme.Client, identifiers: OrderRequest['identifiers'], replaces?: string): Promise<acme.Order> {
  if (replaces === undefined) return client.createOrder({ identifiers });
  // acme-client sends the payload as given; its type only predates RFC 9773.
  const payload: OrderRequest & { replaces: string } = { identifiers, replaces };
  try {
    return await client.createOrder(payload);
  } catch (error) {
    if (!(error instanceof AcmeProblemError) || error.problem.type !== ALREADY_REPLACED) throw error;
    return client.createOrder({ identifiers });
  }
}

/** GETs an ACME directory (RFC 8555 §7.1.1) through the current transport. */
export async function fetchDirectory(directoryUrl: string): Promise<Record<string, unknown>> {
  const response = await (await loadAcmeClient()).axios.get<unknown>(directoryUrl);
  const directory = response.data;
  if (directory === null || typeof directory !== 'object' || Array.isArray(directory)) {
    throw new AcmeTransportError(`${directoryUrl} is not an ACME directory: it did not answer with a JSON object`, 'EFAULT');
  }
  return directory as Record<string, unknown>;
}

/** A problem document in one line per problem: the detail (or the type), then each subproblem. */
export function describeProblem(problem: AcmeProblem): string {
  const head = problem.detail || problem.type;
  const subs = problem.subproblems.map((sub) => `\n- ${sub.identifier ? `${sub.identifier}: ` : ''}${sub.detail || sub.type}`);
  return head + subs.join('');
}

/**
 * The CallError for a failed ACME step: "<what>: <cause>", the problem document as `extra` when the
 * server sent one. CallErrors, validation errors and the job's abort pass through.
 */
function acmeCallError(what: string, error: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted || error instanceof CallError || error instanceof ValidationErrors || !(error instanceof Error)) return error;
  if (error instanceof AcmeProblemError) return new CallError(`${what}: ${error.message}`, 'EFAULT', error.problem);
  if (error instanceof AcmeTransportError) return new CallError(`${what}: ${error.message}`, error.errname);
  return new CallError(`${what}: ${error.message}`, 'EFAULT');
}

/** Runs one ACME step, reporting its failure as `acmeCallError(what, …)`. */
export async function acmeStep<T>(what: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw acmeCallError(what, error, signal);
  }
}
