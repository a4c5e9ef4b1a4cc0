/**
 * What is audited and how an entry reads, in TrueNAS's `MIDDLEWARE` service shapes: `AUTHENTICATION`
 * for every login attempt, `METHOD_CALL` for every call that changes state or reveals a secret,
 * whether it was allowed and whether it worked.
 */
import type { AnyMethod } from '../api/define-method.js';
import type { Caller } from '../api/caller.js';
import type { App } from '../app.js';
import { REDACTED, SECRET_KEYS } from '../secrets.js';
import { appendAuditEntry } from './chain.js';

/** Version of the event shapes, as TrueNAS marks them. */
const VERS = { major: 0, minor: 1 };
/** Longer strings (certificates, CSRs) are shortened in recorded parameters: the log is not an archive. */
const MAX_RECORDED_STRING = 1024;
/** Names that hold secrets beyond the shared list (DNS providers' and deploy targets' own fields). */
const SECRET_NAME = /secret|token|password|passphrase|private_?key|api_?key|hmac/i;

/** The credential type a login mechanism gives, as `credentials.credentials` names it on success. */
const CREDENTIALS_OF_MECHANISM: Record<string, string> = { PASSWORD_PLAIN: 'LOGIN_PASSWORD', API_KEY_PLAIN: 'API_KEY', TOKEN_PLAIN: 'TOKEN' };

/** Where a call or login came from. */
export interface AuditSource {
  sessionId: string;
  address: string;
  caller: Caller | null;
}

/** Whether calls of `method` are recorded: writes, and reads marked as revealing secrets. */
export function isAudited(method: AnyMethod): boolean {
  if (method.audit !== undefined) return method.audit;
  if (method.public || method.roles.length === 0) return false;
  return method.roles.every((role) => role === 'FULL_ADMIN' || role.endsWith('_WRITE'));
}

/** The address as people write it: IPv4 clients of a dual-stack socket without the `::ffff:` prefix. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function credentialsOf(caller: Caller | null): Record<string, unknown> | null {
  if (!caller) return null;
  return { credentials: caller.credentialType, credentials_data: { username: caller.username, login_at: { $date: caller.loginAt } } };
}

function serviceData(source: AuditSource): Record<string, unknown> {
  return { vers: VERS, origin: plainAddress(source.address), protocol: 'WEBSOCKET', credentials: credentialsOf(source.caller) };
}

/**
 * Credentials blobs (DNS authenticators', deploy targets', alert channels' `attributes`) are sealed
 * whole at rest: the log keeps only which kind they are.
 */
const SEALED_BLOB = 'attributes';
const KIND_KEYS = new Set(['authenticator', 'type', 'kind']);

function sealedBlob(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, KIND_KEYS.has(name) ? item : REDACTED]));
}

/** A copy of a recorded value without secrets and with long strings shortened. */
function recordable(value: unknown, key?: string): unknown {
  if (key !== undefined && (SECRET_KEYS.has(key) || SECRET_NAME.test(key)) && value !== null && value !== undefined) return REDACTED;
  if (key === SEALED_BLOB && value !== null && typeof value === 'object' && !Array.isArray(value)) return sealedBlob(value as Record<string, unknown>);
  if (typeof value === 'string' && value.length > MAX_RECORDED_STRING) return `${value.slice(0, 64)}… (${value.length} characters)`;
  if (Array.isArray(value)) return value.map((item) => recordable(item));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, recordable(item, name)]));
  }
  return value;
}

/** The call's positional parameters, each judged by its declared name (`password`, `api_key`, …). */
export function recordableParams(method: AnyMethod, params: readonly unknown[]): unknown[] {
  const names = Object.keys(method.params);
  return params.map((value, index) => recordable(value, names[index]));
}

/** Records without failing the caller: an entry that cannot be written is logged as an error. */
async function append(app: App, draft: Parameters<typeof appendAuditEntry>[1]): Promise<void> {
  try {
    await appendAuditEntry(app, draft);
  } catch (error) {
    app.logger.error({ err: error, event: draft.event, method: draft.method }, 'could not write an audit entry');
  }
}

/** Records one call of an audited method. */
export async function auditMethodCall(
  app: App,
  source: AuditSource,
  method: AnyMethod,
  params: readonly unknown[],
  outcome: { success: boolean; authorized: boolean },
): Promise<void> {
  await append(app, {
    address: plainAddress(source.address),
    username: source.caller?.username ?? '',
    session: source.sessionId,
    service: 'MIDDLEWARE',
    service_data: serviceData(source),
    event: 'METHOD_CALL',
    method: method.name,
    event_data: {
      method: method.name,
      params: recordableParams(method, params),
      description: method.auditDescription ?? null,
      authenticated: source.caller !== null,
      authorized: outcome.authorized,
      vers: VERS,
    },
    success: outcome.success,
  });
}

/** Records one login attempt: `username` is who it claimed to be, `error` why it failed. */
export async function auditAuthentication(
  app: App,
  source: AuditSource,
  attempt: { mechanism: string; username: string | null; error: string | null },
): Promise<void> {
  const credentials = source.caller
    ? credentialsOf(source.caller)
    : { credentials: CREDENTIALS_OF_MECHANISM[attempt.mechanism] ?? attempt.mechanism, credentials_data: attempt.username === null ? {} : { username: attempt.username } };
  await append(app, {
    address: plainAddress(source.address),
    username: source.caller?.username ?? attempt.username ?? '',
    session: source.sessionId,
    service: 'MIDDLEWARE',
    service_data: serviceData(source),
    event: 'AUTHENTICATION',
    method: null,
    event_data: { credentials, error: attempt.error, vers: VERS },
    success: attempt.error === null,
  });
}
