/**
 * ACME issuance over DNS-01 (RFC 8555 §7.4, §8.4): one order for every name of a CSR, each
 * authorization's challenge published, checked and answered in parallel, the order finalized with
 * the CSR and the chain downloaded. Every record published is removed again, whatever happens.
 * Progress follows TrueNAS (§4.2): the order at `progressStart` (25), each domain's challenge up to
 * 3.2 × that (80).
 */
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type acme from 'acme-client';
import type { JobProgressReporter } from '../api/jobs.js';
import type { App } from '../app.js';
import { parseCsr } from '../crypto/certificates.js';
import { CallError } from '../errors/call-error.js';
import { loadAuthenticator, type LoadedAuthenticator } from './authenticators.js';
import { acmeStep, createOrder, describeProblem, toProblem, withTransport, type AcmeTransport } from './client.js';
import { challengeRecordName, waitForPropagation } from './propagation.js';
import { registrationClient, registrationFor, transportOf, type ExternalAccountBinding } from './registration.js';

/** What to issue, and from which directory. */
export interface AcmeIssueRequest {
  csrPem: string;
  directoryUri: string;
  /** Terms of service accepted; needed only when the directory has no account yet. */
  tos: boolean;
  /** Name → DNS authenticator id; keys bare ("*.example.com") or prefixed ("DNS:example.com"). */
  dnsMapping: Record<string, number>;
  /** For registering with a CA that requires External Account Binding. */
  eab?: ExternalAccountBinding | undefined;
  /** Percent at which the order is placed (TrueNAS's `progress`): 25 by default. */
  progressStart?: number | undefined;
  /** Renewing: the RFC 9773 §4.1 identifier of the certificate this one replaces, for a CA that offers renewalInfo. */
  replaces?: string | undefined;
}

/** What the CA issued. */
export interface AcmeIssueResult {
  /** The certificate followed by its chain, as the CA sent it. */
  fullchainPem: string;
  orderUri: string;
  registrationId: number;
}

const DEFAULT_PROGRESS_START = 25;
/** TrueNAS's `max_progress`: the challenges take 2.2 × the start (25 → 80). */
const CHALLENGE_SPAN = 2.2;
const VALIDATION_TIMEOUT_MS = 300_000;
const FINALIZE_TIMEOUT_MS = 300_000;
const CLEANUP_TIMEOUT_MS = 30_000;
const FIRST_POLL_MS = 250;
const MAX_POLL_MS = 2_000;

type Identifier = { type: 'dns' | 'ip'; value: string };
type Authorization = acme.Authorization;
type Challenge = Authorization['challenges'][number];

/** A challenge record published (or being published): removed at the end. */
interface PublishedRecord {
  authenticator: LoadedAuthenticator;
  domain: string;
  fqdn: string;
  value: string;
}

/** What the steps of one issuance share. */
interface Session {
  app: App;
  client: acme.Client;
  job: JobProgressReporter;
  transport: AcmeTransport;
  /** By identifier as the CSR names it ("*.example.com" for a wildcard). */
  authenticators: ReadonlyMap<string, LoadedAuthenticator>;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const SAN_PREFIX = /^(DNS|IP|IP Address):/i;

/** The CN and the DNS and IP SANs of the CSR, each once, as order identifiers (RFC 8555 §7.1.3, RFC 8738). */
function csrIdentifiers(csrPem: string): Identifier[] {
  const csr = parseCsr(csrPem);
  const names = [csr.common, ...csr.san.filter((san) => SAN_PREFIX.test(san)).map((san) => san.replace(SAN_PREFIX, ''))];
  const unique = [...new Set(names.filter((name): name is string => Boolean(name)).map((name) => name.toLowerCase()))];
  return unique.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value }));
}

/** `dns_mapping` keyed by bare lower-case names, whichever form the keys had. */
function bareMapping(mapping: Record<string, number>): Map<string, number> {
  return new Map(Object.entries(mapping).map(([key, id]) => [key.replace(SAN_PREFIX, '').toLowerCase(), id]));
}

/** The authenticator of every identifier, loaded before anything is ordered. */
async function authenticatorsFor(app: App, identifiers: readonly Identifier[], mapping: ReadonlyMap<string, number>): Promise<Map<string, LoadedAuthenticator>> {
  const loaded = new Map<number, Promise<LoadedAuthenticator>>();
  const result = new Map<string, LoadedAuthenticator>();
  for (const { value } of identifiers) {
    const id = mapping.get(value);
    if (id === undefined) throw new CallError(`Please provide DNS authenticator id for ${value}`, 'EINVAL');
    if (!loaded.has(id)) loaded.set(id, loadAuthenticator(app, id));
    result.set(value, await loaded.get(id)!);
  }
  return result;
}

/** "*.example.com" for a wildcard authorization, whose identifier is the bare name (RFC 8555 §7.1.4). */
const domainOf = (authz: Authorization): string => (authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value).toLowerCase();

/**
 * Calls `check` until it returns a value, pausing a little longer each time, until the deadline.
 * @throws what `timedOut` returns, once the deadline has passed.
 */
async function poll<T>(check: () => Promise<T | null>, timeoutMs: number, signal: AbortSignal, timedOut: () => Error): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
    const result = await check();
    if (result !== null) return result;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut();
    await sleep(Math.min(pause, remaining), undefined, { signal });
  }
}

/**
 * Issues a certificate for every name of `request.csrPem` from `request.directoryUri`, registering
 * an account there first if there is none. Honours `job.signal`; reports TrueNAS's progress steps.
 */
export async function issueAcmeCertificate(app: App, request: AcmeIssueRequest, job: JobProgressReporter): Promise<AcmeIssueResult> {
  const { signal } = job;
  const identifiers = csrIdentifiers(request.csrPem);
  const authenticators = await authenticatorsFor(app, identifiers, bareMapping(request.dnsMapping));
  const registration = await registrationFor(app, { directoryUri: request.directoryUri, tos: request.tos, eab: request.eab }, signal);
  const transport = transportOf(registration, signal);
  return withTransport(transport, async () => {
    const session: Session = { app, client: await registrationClient(app, registration), job, transport, authenticators };
    // RFC 8555 §7.4: apex and wildcard go into one order; the CA answers with one authorization each.
    const order = await acmeStep('Failed to issue a new order for Certificate ', () => createOrder(session.client, identifiers, request.replaces), signal);
    const start = request.progressStart ?? DEFAULT_PROGRESS_START;
    job.progress(start, 'New order for certificate issuance placed');
    await authorize(session, order, start);
    const fullchainPem = await finalize(session, order, request.csrPem);
    return { fullchainPem, orderUri: order.url, registrationId: registration.id };
  });
}

/**
 * Satisfies every authorization of the order in parallel. The first failure stops the others
 * (they settle before it is thrown), and every published record is removed in any case.
 */
async function authorize(session: Session, order: acme.Order, start: number): Promise<void> {
  const { job } = session;
  const authorizations = await acmeStep('Failed to read the authorizations of the order', () => session.client.getAuthorizations(order), job.signal);
  const stop = new AbortController();
  const signal = AbortSignal.any([job.signal, stop.signal]);
  const published: PublishedRecord[] = [];
  let completed = 0;
  const failures: unknown[] = [];
  try {
    await Promise.all(
      authorizations.map(async (authz) => {
        const domain = domainOf(authz);
        try {
          await withTransport({ ...session.transport, signal }, () => satisfy(session, authz, published, signal));
          completed += 1;
          job.progress(start + (start * CHALLENGE_SPAN * completed) / authorizations.length, `DNS challenge completed for ${domain}`);
        } catch (error) {
          // Siblings stopped because of this failure end with the abort; only the cause is reported.
          if (failures.length > 0 || job.signal.aborted) return;
          failures.push(error);
          job.progress(null, `DNS challenge failed for ${domain}`);
          stop.abort();
        }
      }),
    );
  } finally {
    await removeRecords(session.app, published);
  }
  if (job.signal.aborted) throw job.signal.reason;
  if (failures.length > 0) throw failures[0];
}

/** One authorization: publish the TXT record, wait until it shows, answer, wait for the CA's verdict. */
async function satisfy(session: Session, authz: Authorization, published: PublishedRecord[], signal: AbortSignal): Promise<void> {
  // RFC 8555 §7.1.4: a CA may hand back an authorization that is already valid.
  if (authz.status === 'valid') return;
  const domain = domainOf(authz);
  const challenge = authz.challenges.find((candidate) => candidate.type === 'dns-01');
  if (!challenge) throw new CallError(`DNS Challenge not found for domain ${domain}`, 'ENOENT');
  const authenticator = session.authenticators.get(domain);
  if (!authenticator) throw new CallError(`Please provide DNS authenticator id for ${domain}`, 'EINVAL');
  const value = await session.client.getChallengeKeyAuthorization(challenge);
  await publish(authenticator, authz.identifier.value, domain, value, published, signal);
  await acmeStep(`Error answering challenge for ${domain} `, () => session.client.completeChallenge(challenge), signal);
  await waitForAuthorization(session, authz, domain, signal);
}

/**
 * Publishes the challenge TXT record where the `_acme-challenge` name (or its CNAME chain) leads
 * and waits until it is visible. Wildcard and apex share that name: both values stay side by side.
 * The chain is followed through the resolver and each zone's own servers, not the provider, whose
 * server is only where the final name is published (and, for rfc2136, checked); a chain that cannot
 * be followed ends at the name reached, so only `check` mode can fail on lookups.
 */
async function publish(authenticator: LoadedAuthenticator, name: string, domain: string, value: string, published: PublishedRecord[], signal: AbortSignal): Promise<void> {
  const { provider } = authenticator;
  try {
    const fqdn = await challengeRecordName(name, signal);
    // Listed before the request: an answer lost to an abort may still have created the record.
    published.push({ authenticator, domain, fqdn, value });
    await provider.createTxt(fqdn, value, signal);
    await waitForPropagation(provider, fqdn, value, authenticator.propagation, signal);
  } catch (error) {
    if (signal.aborted) throw error;
    throw new CallError(`Failed to perform ${authenticator.key} challenge for '${domain}' domain: ${messageOf(error)}`);
  }
}

async function waitForAuthorization(session: Session, authz: Authorization, domain: string, signal: AbortSignal): Promise<void> {
  const read = () => session.client.getAuthorizations({ authorizations: [authz.url] } as acme.Order);
  const settled = await poll(
    async () => {
      const [current] = await acmeStep(`Failed to read the authorization for ${domain}`, read, signal);
      return current && current.status !== 'pending' ? current : null;
    },
    VALIDATION_TIMEOUT_MS,
    signal,
    () => new CallError(`The ACME server did not validate ${domain} within ${VALIDATION_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT'),
  );
  if (settled.status !== 'valid') throw authorizationFailure(settled, domain);
}

/** TrueNAS's text for a failed authorization, with the challenge's problem document as `extra`. */
function authorizationFailure(authz: Authorization, domain: string): CallError {
  const failed = authz.challenges.filter((challenge: Challenge) => challenge.status === 'invalid' || challenge.error);
  const problem = toProblem(failed[0]?.error, 0);
  const details = failed.map((challenge: Challenge) => {
    const own = toProblem(challenge.error, 0);
    const text = own ? describeProblem(own) : 'No error details were found';
    return `Challenge Type: ${challenge.type}\n\nError information:\n- Type: ${own?.type ?? 'No error type found'}\n- Details: ${text}`;
  });
  const message = `Certificate request for final order failed: \nAuthorization for identifier ${domain} failed (${authz.status}).\nHere are the challenges that were not fulfilled:\n${details.join('\n\n')}`;
  return new CallError(message, 'EFAULT', problem);
}

/** RFC 8555 §7.4: finalize with the CSR, wait while the CA processes it, download the chain. */
async function finalize(session: Session, order: acme.Order, csrPem: string): Promise<string> {
  const { client } = session;
  const { signal } = session.job;
  const what = 'Certificate request for final order failed';
  const settled = (candidate: acme.Order): boolean => candidate.status === 'valid' || candidate.status === 'invalid';
  let current = await acmeStep(what, () => client.finalizeOrder(order, csrPem), signal);
  if (!settled(current)) {
    const processing = current;
    current = await poll(
      async () => {
        const latest = await acmeStep(what, () => client.getOrder(processing), signal);
        return settled(latest) ? latest : null;
      },
      FINALIZE_TIMEOUT_MS,
      signal,
      () => new CallError('Certificate request for final order timed out', 'ETIMEDOUT'),
    );
  }
  if (current.status !== 'valid') {
    const problem = toProblem(current.error, 0);
    throw new CallError(`${what}: ${problem ? describeProblem(problem) : `the order is ${current.status}`}`, 'EFAULT', problem);
  }
  return acmeStep('Failed to download the certificate', () => client.getCertificate(current), signal);
}

/** Removes every record published; a failure is logged (without secrets) and does not hide the outcome. */
async function removeRecords(app: App, published: readonly PublishedRecord[]): Promise<void> {
  await Promise.all(
    published.map(async ({ authenticator, domain, fqdn, value }) => {
      try {
        // Not the job's signal: records must go even when the job was aborted.
        await authenticator.provider.deleteTxt(fqdn, value, AbortSignal.timeout(CLEANUP_TIMEOUT_MS));
      } catch (error) {
        app.logger.warn({ domain, record: fqdn, authenticator: authenticator.name, error: messageOf(error) }, `Failed to cleanup ${authenticator.key} challenge for '${domain}' domain`);
      }
    }),
  );
}
