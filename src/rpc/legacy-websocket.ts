/**
 * The legacy DDP-style protocol at `GET /websocket`, as TrueNAS 25.04 still serves it
 * (`middlewared/apps/websocket_app.py`; client: `truenas_api_client/legacy.py`).
 *
 * ```
 * → {"msg":"connect","version":"1","support":["1"]}       ← {"msg":"connected","session":"<uuid>"}
 * → {"id":"<id>","msg":"method","method":"…","params":[]}  ← {"id":"<id>","msg":"result","result":…}
 *                                                          ← {"msg":"result","id":"<id>","error":{…}}
 * → {"msg":"sub","id":"<ident>","name":"core.get_jobs"}    ← {"msg":"ready","subs":["<ident>"]}
 *                                                          ← {"msg":"added"|"changed"|"removed","collection":…,"id":…,"fields":…}
 * → {"msg":"unsub","id":"<ident>"}                         ← {"msg":"nosub","collection":…,"error":{…}} when the server ends it
 * ```
 *
 * Calls go through the same registry, authorization and dispatcher as JSON-RPC; only the framing
 * and the error shape differ.
 */
import type { AnyMethod } from '../api/define-method.js';
import { MAX_PARAM_DEPTH, nestedDeeperThan } from '../api/screen.js';
import type { App } from '../app.js';
import { CallError } from '../errors/call-error.js';
import { ERRNO, errnameOf } from '../errors/codes.js';
import { isExpectedError, toErrorData, type TruenasErrorData } from '../errors/to-rpc-error.js';
import { InstanceNotFoundError, ValidationErrors } from '../errors/validation-errors.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { maySubscribe } from '../events/subscription-hub.js';
import { auditRefusal, authorize, dispatch } from './dispatcher.js';
import { MAX_CONCURRENT_CALLS, Session, type Notification, type SessionOptions } from './session.js';

type Message = Record<string, unknown>;

/** The params of a JSON-RPC `notify_unsubscribed`. */
type Unsubscribed = { collection: string; error: TruenasErrorData | null };

/** Linux's EBADMSG; codes.ts lists only the numbers the rest of the daemon raises. */
const EBADMSG = 74;

/** The `error` of a legacy reply (`WebSocketApplication.get_error_dict`). */
interface LegacyError {
  error: number;
  errname: string;
  type: 'VALIDATION' | null;
  reason: string;
  trace: { class: string; frames: []; formatted: string; repr: string } | null;
  extra: unknown;
}

/** A message missing a key TrueNAS reads unguarded: its KeyError closes the connection with 1011. */
class MalformedMessageError extends Error {
  constructor(key: string) {
    super(`'${key}'`);
    this.name = 'MalformedMessageError';
  }
}

/** A connection of the legacy protocol: it must `connect` first, and it gets events in the DDP shape. */
export class LegacySession extends Session {
  /** Set by a `connect` with version "1"; until then every message is answered with `failed`. */
  connected = false;

  /** `legacy_jobs` stays true: a legacy call of a job method always answers with the job id. */
  override readonly options: SessionOptions = Object.defineProperty(
    { private_methods: false, py_exceptions: false } as SessionOptions,
    'legacy_jobs',
    { get: () => true, set: ignoreValue, enumerable: true },
  );

  /** Reshapes the hub's `collection_update` and `auth.logout`'s `notify_unsubscribed`. */
  override deliver(notification: Notification): void {
    if (notification.method === 'collection_update') this.sendText(notification.frame('ddp', ({ params }) => toDdpEvent(params as CollectionUpdate)));
    else if (notification.method === 'notify_unsubscribed') this.send(toNosub(notification.params as Unsubscribed));
  }
}

function ignoreValue(): void {
  // core.set_options may not switch a legacy session to waiting for job results.
}

/** `send_event`: fields only for added/changed, leftover keys under `extra`. */
function toDdpEvent(update: CollectionUpdate): Message {
  const event: Message = { msg: update.msg, collection: update.collection, id: update.id };
  if (update.msg !== 'removed' && update.fields !== undefined) event.fields = update.fields;
  if (update.extra !== undefined) event.extra = update.extra;
  return event;
}

/** `notify_unsubscribed`; only CallErrors end subscriptions here, sent with type null and no trace. */
function toNosub({ collection, error }: Unsubscribed): Message {
  if (!error) return { msg: 'nosub', collection };
  return { msg: 'nosub', collection, error: legacyError(error.error, error.errname, error.reason, error.extra) };
}

function legacyError(errno: number, errname: string, reason: string, extra: unknown = null): LegacyError {
  return { error: errno, errname, type: null, reason, trace: null, extra };
}

/**
 * A validation failure. The trace has no frames, but it is not null: the legacy client raises
 * `ValidationErrors` only when `trace` is set (`legacy.py` `LegacyClient.wait`).
 */
function validationError(errno: number, className: string, reason: string, extra: unknown): LegacyError {
  const trace = { class: className, frames: [] as [], formatted: reason, repr: reason };
  return { ...legacyError(errno, errnameOf(errno), reason, extra), type: 'VALIDATION', trace };
}

/** `call_method`'s mapping: ValidationError → its errno, ValidationErrors → EAGAIN, the rest as on JSON-RPC. */
function toLegacyError(error: unknown): LegacyError {
  if (error instanceof InstanceNotFoundError) {
    const [attribute, message, errno] = error.errors[0]!;
    return validationError(errno, 'ValidationError', `[${errnameOf(errno)}] ${attribute ?? 'None'}: ${message}`, error.errors);
  }
  if (error instanceof ValidationErrors) return validationError(ERRNO.EAGAIN, 'ValidationErrors', error.reason, error.errors);
  const data = toErrorData(error);
  return legacyError(data.error, data.errname, data.reason, data.extra);
}

/** Handles one text message of a legacy connection. */
export function onLegacyText(app: App, session: LegacySession, text: string): void {
  const message = parseMessage(session, text);
  if (!message) return;
  try {
    route(app, session, message);
  } catch (error) {
    // As in TrueNAS's `ws_handler`, a message the handler cannot process closes the connection.
    if (error instanceof MalformedMessageError) {
      session.close(1011, error.message);
      return;
    }
    app.logger.error({ err: error, session: session.id }, 'legacy message failed unexpectedly');
    session.close(1011, 'Internal error');
  }
}

/** The message as an object; anything else closes the connection with 1007, as `parse_message` does. */
function parseMessage(session: Session, text: string): Message | undefined {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    session.close(1007, (error as Error).message);
    return undefined;
  }
  if (Array.isArray(message)) session.close(1007, 'Batch messages are not supported at this time');
  else if (message === null || typeof message !== 'object') session.close(1007, 'Invalid Message Format');
  // The id is echoed in the reply and used as a key, both recursive; params are screened by the dispatcher.
  else if (nestedDeeperThan((message as Message).id, MAX_PARAM_DEPTH)) session.close(1007, 'The message id is nested too deeply');
  else return message as Message;
  return undefined;
}

function field(message: Message, key: string): unknown {
  if (!(key in message)) throw new MalformedMessageError(key);
  return message[key];
}

function route(app: App, session: LegacySession, message: Message): void {
  const kind = field(message, 'msg');
  if (kind === 'connect') connect(session, message);
  else if (!session.connected) session.send({ msg: 'failed', version: '1' });
  else if (kind === 'method') call(app, session, message);
  else if (kind === 'sub') subscribe(app, session, message);
  else if (kind === 'unsub') session.subscriptions.delete(String(field(message, 'id')));
  // Anything else is ignored, `ping` included: 25.04's handler has no `pong` any more.
}

function connect(session: LegacySession, message: Message): void {
  if (message.version !== '1') {
    session.send({ msg: 'failed', version: '1' });
    return;
  }
  // `features: ["PY_EXCEPTIONS"]` is accepted and ignored: there are no Python exceptions to pickle.
  session.connected = true;
  session.send({ msg: 'connected', session: session.id });
}

function replyError(session: Session, id: unknown, error: LegacyError): void {
  session.send({ msg: 'result', id, error });
}

type Admission = { method: AnyMethod } | { refusal: LegacyError };

/** The method called `name`, or the CallError of TrueNAS's `_method_lookup`. */
function lookUp(app: App, name: unknown): Admission {
  if (typeof name !== 'string' || !name.includes('.')) {
    return { refusal: legacyError(EBADMSG, 'EBADMSG', '[EBADMSG] Invalid method name') };
  }
  const method = app.registry.method(name);
  if (method) return { method };
  const dot = name.lastIndexOf('.');
  const service = name.slice(0, dot);
  const known = app.registry.plugins.some((plugin) => plugin.namespace === service);
  const text = known ? `Method '${name.slice(dot + 1)}' not found in '${service}'` : `Service '${service}' not found`;
  return { refusal: toLegacyError(new CallError(text, 'ENOMETHOD')) };
}

/** The method a call may run, or why not, checked in the order of `on_message` and `call_method`. */
function admit(app: App, session: Session, message: Message): Admission {
  if (!('method' in message)) return { refusal: legacyError(ERRNO.EINVAL, 'EINVAL', "Message is malformed: 'method' is absent.") };
  const found = lookUp(app, message.method);
  if ('refusal' in found) return found;
  try {
    authorize(found.method, session);
  } catch (error) {
    void auditRefusal(app, session, found.method);
    return { refusal: toLegacyError(error) };
  }
  if (!Array.isArray(message.params ?? [])) return { refusal: legacyError(ERRNO.EINVAL, 'EINVAL', '`params` must be a list.') };
  if (session.inFlight >= MAX_CONCURRENT_CALLS) {
    const reason = `Maximum number of concurrent calls (${MAX_CONCURRENT_CALLS}) has exceeded.`;
    return { refusal: legacyError(ERRNO.ETOOMANYREFS, 'ETOOMANYREFS', reason) };
  }
  return found;
}

function call(app: App, session: Session, message: Message): void {
  const id = field(message, 'id');
  const admission = admit(app, session, message);
  if ('refusal' in admission) {
    replyError(session, id, admission.refusal);
    return;
  }
  const { method } = admission;
  const request = {
    id: typeof id === 'string' || typeof id === 'number' ? id : null,
    method: method.name,
    params: (message.params ?? []) as unknown[],
  };
  session.inFlight++;
  dispatch(app, session, method, request)
    .then((result) => session.send({ id, msg: 'result', result: result ?? null }))
    .catch((error: unknown) => {
      if (!isExpectedError(error)) app.logger.error({ err: error, method: method.name }, 'method failed unexpectedly');
      replyError(session, id, toLegacyError(error));
    })
    .finally(() => session.inFlight--);
}

/** Permission as for `core.subscribe`, checked on the name before any `:argument`. */
function subscribe(app: App, session: Session, message: Message): void {
  const name = field(message, 'name');
  const id = field(message, 'id');
  if (typeof name !== 'string' || !maySubscribe(app, session, name.split(':', 1)[0]!)) {
    replyError(session, id, legacyError(ERRNO.EACCES, 'EACCES', 'Not authorized'));
    return;
  }
  session.subscriptions.set(String(id), name);
  session.send({ msg: 'ready', subs: [id] });
}
