/**
 * A client for certmid and TrueNAS 25.04 JSON-RPC 2.0 endpoints (`ws://host/api/current`).
 *
 * Platform-neutral: it runs in browsers and in Node. Node 20 has no global WebSocket, so Node callers pass
 * `WebSocket` from the `ws` package as {@link ConnectOptions.WebSocket}.
 */
import {
  JSONRPCClient,
  JSONRPCServer,
  JSONRPCServerAndClient,
  createJSONRPCErrorResponse,
  createJSONRPCRequest,
  type JSONRPCError,
} from 'json-rpc-2.0';
import { parse, stringify } from './ejson.js';

/**
 * The part of the WHATWG WebSocket API the client uses; browsers' `WebSocket` and the `ws` package
 * both provide it.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'error', listener: (event: { message?: string }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

/** A WebSocket class such as `globalThis.WebSocket` or `ws`'s `WebSocket`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of {@link CertmidClient.connect}. */
export interface ConnectOptions {
  /** The WebSocket class to use. @defaultValue `globalThis.WebSocket` */
  WebSocket?: WebSocketConstructor;
  /**
   * Milliseconds to wait for each reply.
   * @defaultValue no limit: a reply is awaited while the connection lives
   */
  callTimeout?: number;
  /**
   * Milliseconds to wait for the connection to open; then it is given up and `connect` fails.
   * @defaultValue no limit beyond the operating system's
   */
  connectTimeout?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply; overrides {@link ConnectOptions.callTimeout}. */
  timeout?: number;
}

/** Options of {@link CertmidClient.callJob}. */
export interface CallJobOptions extends RequestOptions {
  /** Called, in order, each time the job's percent or description changes. */
  onProgress?: (progress: JobProgress, job: Job) => void;
  /** Milliseconds to wait for the job to end once it has started; {@link JobTimeoutError} after that. */
  jobTimeout?: number;
}

/** The `error.data` TrueNAS puts in -32001 and -32602 errors (`format_truenas_error`). */
export interface RpcErrorData {
  error: number;
  errname: string;
  reason: string;
  trace?: unknown;
  /** `[[attribute, message, errno], …]` for validation errors, anything for call errors. */
  extra: unknown;
}

/** A `collection_update` notification's params. */
export interface CollectionUpdate<Fields = Record<string, unknown>> {
  msg: 'added' | 'changed' | 'removed';
  collection: string;
  id?: number | string;
  fields?: Fields;
  extra?: Record<string, unknown>;
}

/** A job's life cycle; the last three are final. */
export type JobState = 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'ABORTED';

/** `job.progress`: percent is an integer 0–100. */
export interface JobProgress {
  percent: number;
  description: string;
  extra: unknown;
}

/** `job.exc_info`: why a job failed. Validation failures have type `VALIDATION` and triples in `extra`. */
export interface JobExcInfo {
  repr: string;
  type: string;
  errno: number | null;
  extra: unknown;
}

/** A job as `core.get_jobs` and its events describe it. */
export interface Job<Result = unknown> {
  id: number;
  method: string;
  arguments: unknown[];
  description: string | null;
  abortable: boolean;
  transient: boolean;
  progress: JobProgress;
  state: JobState;
  result: Result | null;
  error: string | null;
  exception: string | null;
  exc_info: JobExcInfo | null;
  time_started: Date | null;
  time_finished: Date | null;
}

/** The server answered a request with an error. `message` is the readable reason. */
export class RpcError extends Error {
  /** JSON-RPC code: -32001 call error, -32602 invalid params, -32601 unknown method, … */
  readonly code: number;
  /** The JSON-RPC `error.message` as sent: "Method call error", "Invalid params", "Method does not exist". */
  readonly rpcMessage: string;
  readonly data: RpcErrorData | undefined;

  constructor(error: JSONRPCError) {
    const data = asErrorData(error.data);
    super(data ? data.reason.trimEnd() : error.message);
    this.name = 'RpcError';
    this.code = error.code;
    this.rpcMessage = error.message;
    this.data = data;
  }

  /** `EINVAL`, `ENOENT`, `ENOTAUTHENTICATED`, … when the server sent TrueNAS error data. */
  get errname(): string | undefined {
    return this.data?.errname;
  }
}

/** The connection could not be opened, or closed before a reply came. */
export class ConnectionError extends Error {
  /** The WebSocket close code, when the connection closed. */
  readonly closeCode: number | undefined;

  constructor(message: string, closeCode?: number) {
    super(message);
    this.name = 'ConnectionError';
    this.closeCode = closeCode;
  }
}

/**
 * The connection closed while a job was followed. The job itself goes on (or ended) on the server,
 * which keeps its record: once connected again, {@link CertmidClient.followJob} with `jobId`
 * learns how it ends.
 */
export class JobConnectionError extends ConnectionError {
  constructor(
    readonly jobId: number,
    readonly method: string,
    cause: ConnectionError,
  ) {
    super(`${cause.message}, while following job ${jobId} (${method}); follow it again by its id`, cause.closeCode);
    this.name = 'JobConnectionError';
  }
}

/** {@link CertmidClient.followJob} was given the id of no job the caller may see. */
export class JobNotFoundError extends Error {
  constructor(readonly jobId: number) {
    super(`Job ${jobId} does not exist`);
    this.name = 'JobNotFoundError';
  }
}

/** No reply within the caller's timeout. The server may still carry the call out. */
export class CallTimeoutError extends Error {
  constructor(method: string, timeout: number) {
    super(`${method} did not answer within ${timeout} ms`);
    this.name = 'CallTimeoutError';
  }
}

/** The server refused a login. */
export class LoginError extends Error {
  /** `auth.login_ex`'s `response_type` (`AUTH_ERR`, `EXPIRED`, `OTP_REQUIRED`, `REDIRECT`). */
  readonly responseType: string;

  constructor(message: string, responseType: string) {
    super(message);
    this.name = 'LoginError';
    this.responseType = responseType;
  }
}

/** A job ended FAILED or ABORTED. */
export class JobError extends Error {
  readonly job: Job;

  constructor(job: Job) {
    super(job.error?.trimEnd() ?? `Job ${job.id} ended ${job.state}`);
    this.name = 'JobError';
    this.job = job;
  }

  get state(): JobState {
    return this.job.state;
  }

  /** The job's `error` text (`str(exception)` on TrueNAS). */
  get error(): string | null {
    return this.job.error;
  }

  get excInfo(): JobExcInfo | null {
    return this.job.exc_info;
  }
}

/** A method called as a job answered something that is not the id of a job it started. */
export class NotAJobError extends Error {
  constructor(readonly method: string) {
    super(`${method} is not a job method`);
    this.name = 'NotAJobError';
  }
}

/** A job did not end within {@link CallJobOptions.jobTimeout}; it may still be running on the server. */
export class JobTimeoutError extends Error {
  constructor(
    readonly jobId: number,
    readonly method: string,
    timeout: number,
  ) {
    super(`Stopped waiting for job ${jobId} (${method}) after ${timeout / 1000} s`);
    this.name = 'JobTimeoutError';
  }
}

/** The server ended a subscription (`notify_unsubscribed` with an error). */
export class SubscriptionEndedError extends Error {
  readonly collection: string;
  readonly data: RpcErrorData | undefined;

  constructor(collection: string, data: RpcErrorData | undefined) {
    super(data ? data.reason.trimEnd() : `The server ended the subscription to ${collection}`);
    this.name = 'SubscriptionEndedError';
    this.collection = collection;
    this.data = data;
  }
}

/** Unsubscribes; calling it again does nothing. */
export type Unsubscribe = () => Promise<void>;

interface Subscriber {
  onEvent: (event: CollectionUpdate) => void;
  onEnd: ((error: Error | null) => void) | undefined;
}

/** One server-side subscription per event name, shared by every local subscriber to it. */
interface Subscription {
  id: Promise<string>;
  subscribers: Set<Subscriber>;
}

interface LoginExResponse {
  response_type: string;
  urls?: string[];
}

const OPEN = 1;
const FINAL_STATES: ReadonlySet<string> = new Set<JobState>(['SUCCESS', 'FAILED', 'ABORTED']);
/**
 * json-rpc-2.0 answers locally with code 0 when the connection closed or a send failed;
 * servers use negative codes.
 */
const LOCAL_ERROR_CODE = 0;
/** Marks the local error response of a timed-out request. */
const TIMED_OUT = Symbol('timed out');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asErrorData(value: unknown): RpcErrorData | undefined {
  return isRecord(value) && typeof value.reason === 'string' ? (value as unknown as RpcErrorData) : undefined;
}

function isCollectionUpdate(value: unknown): value is CollectionUpdate {
  return isRecord(value) && typeof value.collection === 'string' && typeof value.msg === 'string';
}

/** Throws unless `auth.login_ex` answered SUCCESS. */
function checkLogin(response: LoginExResponse, authErrorMessage: string): void {
  switch (response.response_type) {
    case 'SUCCESS':
      return;
    case 'AUTH_ERR':
      throw new LoginError(authErrorMessage, 'AUTH_ERR');
    case 'EXPIRED':
      throw new LoginError('Account credentials have expired', 'EXPIRED');
    case 'OTP_REQUIRED':
      throw new LoginError(
        'The account requires a one-time password, which this client does not support',
        'OTP_REQUIRED',
      );
    case 'REDIRECT':
      throw new LoginError(
        `Log in on the active controller: ${(response.urls ?? []).join(', ')}`,
        'REDIRECT',
      );
    default:
      throw new LoginError(`Login failed (${response.response_type})`, response.response_type);
  }
}

/**
 * Follows one job through `core.get_jobs` events. Events arrive before the call that starts the job has
 * answered with its id, so until then every event is kept.
 */
class JobFollower<T> {
  private jobId: number | undefined;
  private early: CollectionUpdate<Partial<Job>>[] = [];
  private job: Partial<Job> = {};
  private lastProgress: string | undefined;
  private failure: Error | undefined;
  private settle: { resolve: (result: T) => void; reject: (error: Error) => void } | undefined;

  constructor(private readonly onProgress: CallJobOptions['onProgress']) {}

  onEvent(event: CollectionUpdate<Partial<Job>>): void {
    if (this.jobId === undefined) this.early.push(event);
    else if ((event.id ?? event.fields?.id) === this.jobId) this.apply(event);
  }

  /** The event stream ended; the job's outcome can no longer be learnt. */
  onEnd(error: Error): void {
    this.failure = error;
    this.settle?.reject(error);
  }

  /** The method an event received before following named for job `jobId` (its "added" event), if any. */
  announcedMethod(jobId: number): string | undefined {
    return this.early.find((event) => (event.id ?? event.fields?.id) === jobId && typeof event.fields?.method === 'string')?.fields?.method;
  }

  follow(jobId: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.jobId = jobId;
      const early = this.early;
      this.early = [];
      for (const event of early) this.onEvent(event);
      if (this.failure) reject(this.failure);
    });
  }

  private apply(event: CollectionUpdate<Partial<Job>>): void {
    // Like TrueNAS's client: fields accumulate, so a partial "changed" event keeps what came before.
    this.job = { ...this.job, ...event.fields };
    const job = this.job as Job;
    const { progress } = job;
    if (progress) {
      const key = `${progress.percent}\u0000${progress.description}`;
      if (key !== this.lastProgress) {
        this.lastProgress = key;
        this.onProgress?.(progress, job);
      }
    }
    if (!FINAL_STATES.has(job.state)) return;
    if (job.state === 'SUCCESS') this.settle?.resolve(job.result as T);
    else this.settle?.reject(new JobError(job));
  }
}

/**
 * A JSON-RPC 2.0 connection to certmid (or TrueNAS 25.04). Open one with {@link CertmidClient.connect}.
 *
 * Values cross the wire as TrueNAS ejson: `Date` ↔ `{"$date": ms}`, `Set` ↔ `{"$set": […]}`, and so on.
 */
export class CertmidClient {
  private readonly rpc: JSONRPCServerAndClient<void, string | undefined>;
  private readonly subscriptions = new Map<string, Subscription>();
  /** Event names with a core.unsubscribe in flight, and how many. */
  private readonly unsubscribing = new Map<string, number>();
  private readonly closeListeners = new Set<(code: number, reason: string) => void>();
  private closeError: ConnectionError | undefined;
  private closingByClient = false;
  private nextId = 1;

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly callTimeout: number | undefined,
  ) {
    // The client params carry the request already encoded (see request()), so encoding errors
    // reach the caller.
    const client = new JSONRPCClient<string | undefined>((payload, text) =>
      socket.send(text ?? stringify(payload)),
    );
    const server = new JSONRPCServer();
    server.addMethod('collection_update', (params: unknown) => this.dispatchEvent(params));
    server.addMethod('notify_unsubscribed', (params: unknown) => this.endSubscription(params));
    this.rpc = new JSONRPCServerAndClient(server, client);
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', (event) => this.handleClose(event.code, event.reason));
  }

  /**
   * Opens a connection.
   * @param url - `ws://host:port/api/current` or `wss://…`
   * @throws ConnectionError when the server cannot be reached; TypeError when there is no WebSocket class.
   */
  static async connect(url: string, options: ConnectOptions = {}): Promise<CertmidClient> {
    const WebSocketClass =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) {
      throw new TypeError(
        'No global WebSocket: pass one as options.WebSocket (in Node, `WebSocket` from "ws")',
      );
    }
    const socket = new WebSocketClass(url);
    return new Promise((resolve, reject) => {
      const timer =
        options.connectTimeout === undefined
          ? undefined
          : setTimeout(() => {
              reject(new ConnectionError(`Cannot connect to ${url}: no answer within ${options.connectTimeout! / 1000} s`));
              socket.close();
            }, options.connectTimeout);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(new CertmidClient(socket, options.callTimeout));
      });
      // After "open" has settled the promise, these no longer matter.
      socket.addEventListener('error', (event) => {
        clearTimeout(timer);
        reject(new ConnectionError(`Cannot connect to ${url}${event.message ? `: ${event.message}` : ''}`));
      });
      socket.addEventListener('close', (event) => {
        clearTimeout(timer);
        reject(new ConnectionError(`Cannot connect to ${url}: closed with code ${event.code}`, event.code));
      });
    });
  }

  /** True until the connection closes or {@link close} is called. */
  get isOpen(): boolean {
    return this.closeError === undefined && this.socket.readyState === OPEN;
  }

  /**
   * Calls a method with positional params.
   * @throws RpcError when the server answers with an error; ConnectionError; CallTimeoutError.
   */
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    return this.request<T>(method, params);
  }

  /** {@link call} with per-request options. */
  async request<T = unknown>(
    method: string,
    params: unknown[] = [],
    options: RequestOptions = {},
  ): Promise<T> {
    if (!this.isOpen) {
      throw this.closeError ? this.connectionClosed() : new ConnectionError('The connection is closing');
    }
    const request = createJSONRPCRequest(this.nextId++, method, params);
    const text = stringify(request);
    const timeout = options.timeout ?? this.callTimeout;
    const requester =
      timeout === undefined
        ? this.rpc.client
        : this.rpc.client.timeout(timeout, (id) =>
            createJSONRPCErrorResponse(id, LOCAL_ERROR_CODE, 'Request timeout', TIMED_OUT),
          );
    const response = await requester.requestAdvanced(request, text);
    if (!response.error) return response.result as T;
    if (response.error.data === TIMED_OUT) throw new CallTimeoutError(method, timeout ?? 0);
    if (response.error.code === LOCAL_ERROR_CODE) {
      throw this.closeError ? this.connectionClosed() : new ConnectionError(response.error.message);
    }
    throw new RpcError(response.error);
  }

  /**
   * Logs in with a password (`auth.login_ex`, mechanism PASSWORD_PLAIN).
   * @throws LoginError when the server refuses the credentials.
   */
  async login(username: string, password: string): Promise<void> {
    const response = await this.call<LoginExResponse>('auth.login_ex', {
      mechanism: 'PASSWORD_PLAIN',
      username,
      password,
    });
    checkLogin(response, 'Invalid username or password');
  }

  /**
   * Logs in with an API key `"<id>-<secret>"` (`auth.login_with_api_key`, which unlike
   * API_KEY_PLAIN needs no username).
   * @throws LoginError when the server refuses the key.
   */
  async loginWithApiKey(apiKey: string): Promise<void> {
    if (!(await this.call<boolean>('auth.login_with_api_key', apiKey))) {
      throw new LoginError('Invalid API key', 'AUTH_ERR');
    }
  }

  /**
   * Logs in with a token from `auth.generate_token` (`auth.login_ex`, mechanism TOKEN_PLAIN).
   * @throws LoginError when the server refuses the token.
   */
  async loginWithToken(token: string): Promise<void> {
    const response = await this.call<LoginExResponse>('auth.login_ex', { mechanism: 'TOKEN_PLAIN', token });
    checkLogin(response, 'Invalid or expired token');
  }

  /** Whether job `jobId` exists and was started by a call of `method`. */
  private async isJobOf(jobId: number, method: string, options: RequestOptions): Promise<boolean> {
    const jobs = await this.request<Array<{ method?: string }>>('core.get_jobs', [[['id', '=', jobId]], { select: ['method'] }], options);
    return jobs[0]?.method === method;
  }

  /**
   * Subscribes to an event (`core.subscribe`): `certificate.query`, `core.get_jobs`, or `*` for all.
   * Resolves once the server has accepted; events that arrive meanwhile are delivered too.
   *
   * @param onEvent - called with each `collection_update` whose collection is `event`.
   *   `Fields` is the caller's claim about the events' `fields`; it is not checked.
   * @param onEnd - called once if the subscription ends without {@link Unsubscribe}: with null or a
   *   SubscriptionEndedError when the server ends it, with a ConnectionError when the connection closes.
   * @throws RpcError when the server refuses (ENOTAUTHENTICATED, EACCES).
   */
  async subscribe<Fields = Record<string, unknown>>(
    event: string,
    onEvent: (event: CollectionUpdate<Fields>) => void,
    onEnd?: (error: Error | null) => void,
  ): Promise<Unsubscribe> {
    let subscription = this.subscriptions.get(event);
    if (!subscription) {
      subscription = { id: this.call<string>('core.subscribe', event), subscribers: new Set() };
      this.subscriptions.set(event, subscription);
    }
    const current = subscription;
    const subscriber: Subscriber = { onEvent: onEvent as (event: CollectionUpdate) => void, onEnd };
    current.subscribers.add(subscriber);
    try {
      await current.id;
    } catch (error) {
      current.subscribers.delete(subscriber);
      if (this.subscriptions.get(event) === current) this.subscriptions.delete(event);
      throw error;
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      current.subscribers.delete(subscriber);
      if (current.subscribers.size > 0 || this.subscriptions.get(event) !== current) return;
      this.subscriptions.delete(event);
      if (!this.isOpen) return;
      this.unsubscribing.set(event, (this.unsubscribing.get(event) ?? 0) + 1);
      try {
        await this.call('core.unsubscribe', await current.id);
      } finally {
        const left = (this.unsubscribing.get(event) ?? 1) - 1;
        if (left > 0) this.unsubscribing.set(event, left);
        else this.unsubscribing.delete(event);
      }
    };
  }

  /**
   * Calls a job method and follows the job to its end through `core.get_jobs` events, subscribing before
   * the call so that no event is missed.
   *
   * @returns the job's `result` when it ends SUCCESS.
   * @throws JobError when it ends FAILED or ABORTED; RpcError when the call itself fails (bad params,
   *   not authenticated); NotAJobError when the method did not answer with the id of a job it
   *   started; JobConnectionError (holding the job id) when the connection drops while the job runs;
   *   ConnectionError.
   */
  async callJob<T = unknown>(
    method: string,
    params: unknown[] = [],
    options: CallJobOptions = {},
  ): Promise<T> {
    return this.followNewJob<T>(
      method,
      async (announcedMethod) => {
        const jobId = await this.request<unknown>(method, params, options);
        if (typeof jobId !== 'number' || !Number.isInteger(jobId)) throw new NotAJobError(method);
        // A plain method may answer a number that happens to be some other job's id. certmid sends a
        // job's "added" event before the reply that gives its id, which settles it without asking.
        if (announcedMethod(jobId) !== method && !(await this.isJobOf(jobId, method, options))) throw new NotAJobError(method);
        return jobId;
      },
      options,
    );
  }

  /**
   * Follows a job that `start` starts some other way than by calling its method (through
   * `core.download`, or by an HTTP upload to `/_upload`) and resolves with its id, subscribing
   * before `start` runs so that no event of the job is missed.
   *
   * @param method - the job's method, for {@link JobTimeoutError}.
   * @param start - given a look-up of the method that a job's events received so far name (its
   *   "added" event), or undefined.
   * @returns the job's `result` when it ends SUCCESS.
   * @throws JobError when it ends FAILED or ABORTED; whatever `start` throws; ConnectionError;
   *   JobTimeoutError.
   */
  async followNewJob<T = unknown>(method: string, start: (announcedMethod: (jobId: number) => string | undefined) => Promise<number>, options: CallJobOptions = {}): Promise<T> {
    const follower = new JobFollower<T>(options.onProgress);
    const unsubscribe = await this.subscribe<Partial<Job>>(
      'core.get_jobs',
      (event) => follower.onEvent(event),
      (error) => follower.onEnd(error ?? new SubscriptionEndedError('core.get_jobs', undefined)),
    );
    let followed: number | undefined;
    try {
      const jobId = await start((id) => follower.announcedMethod(id));
      followed = jobId;
      return await withTimeout(follower.follow(jobId), options.jobTimeout, () => new JobTimeoutError(jobId, method, options.jobTimeout!));
    } catch (error) {
      if (followed !== undefined && error instanceof ConnectionError) throw new JobConnectionError(followed, method, error);
      throw error;
    } finally {
      // The job's outcome matters more than a failed clean-up of the subscription.
      await unsubscribe().catch(() => undefined);
    }
  }

  /**
   * Follows a job that already exists (say, after {@link JobConnectionError}) to its end, from its
   * record in `core.get_jobs` and its events.
   *
   * @returns the job's `result` when it ends SUCCESS.
   * @throws JobError when it ends FAILED or ABORTED; JobNotFoundError when the caller may see no
   *   job with that id; ConnectionError (JobConnectionError) when the connection closes first.
   */
  async followJob<T = unknown>(jobId: number, options: Omit<CallJobOptions, keyof RequestOptions> & RequestOptions = {}): Promise<T> {
    const follower = new JobFollower<T>(options.onProgress);
    const unsubscribe = await this.subscribe<Partial<Job>>(
      'core.get_jobs',
      (event) => follower.onEvent(event),
      (error) => follower.onEnd(error ?? new SubscriptionEndedError('core.get_jobs', undefined)),
    );
    let method = 'a job';
    try {
      const [job] = await this.request<Job[]>('core.get_jobs', [[['id', '=', jobId]]], options);
      if (!job) throw new JobNotFoundError(jobId);
      method = job.method;
      // Its record now, then whatever its events said meanwhile.
      follower.onEvent({ msg: 'changed', collection: 'core.get_jobs', id: jobId, fields: job });
      return await withTimeout(follower.follow(jobId), options.jobTimeout, () => new JobTimeoutError(jobId, method, options.jobTimeout!));
    } catch (error) {
      if (error instanceof ConnectionError && !(error instanceof JobConnectionError)) throw new JobConnectionError(jobId, method, error);
      throw error;
    } finally {
      await unsubscribe().catch(() => undefined);
    }
  }

  /**
   * Registers a listener for the end of the connection, whoever closes it.
   * @returns a function that removes the listener.
   */
  onClose(listener: (code: number, reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Closes the connection; pending requests fail with ConnectionError. Resolves once it is closed. */
  async close(): Promise<void> {
    if (this.closeError) return;
    const closed = new Promise<void>((resolve) => this.socket.addEventListener('close', () => resolve()));
    this.closingByClient = true;
    this.socket.close(1000);
    await closed;
  }

  /** A fresh error per caller, so that its stack shows the call that failed. */
  private connectionClosed(): ConnectionError {
    const message = this.closeError?.message ?? 'The connection closed';
    return new ConnectionError(message, this.closeError?.closeCode);
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return; // TrueNAS speaks in text frames only
    let message: unknown;
    try {
      message = parse(data);
    } catch {
      return; // not JSON: nothing in it can be matched to a request or a subscription
    }
    // Invalid messages are reported by json-rpc-2.0's error listener; the rejection adds nothing.
    this.rpc.receiveAndSend(message, undefined, undefined).catch(() => undefined);
  }

  private dispatchEvent(params: unknown): void {
    if (!isCollectionUpdate(params)) return;
    const subscribers = [params.collection, '*'].flatMap((name) => [
      ...(this.subscriptions.get(name)?.subscribers ?? []),
    ]);
    // Every subscriber gets the event even if an earlier one throws; the first error is then reported.
    let firstError: unknown;
    for (const subscriber of new Set(subscribers)) {
      try {
        subscriber.onEvent(params);
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  private endSubscription(params: unknown): void {
    if (!isRecord(params) || typeof params.collection !== 'string') return;
    const data = asErrorData(params.error);
    // Some servers answer core.unsubscribe with this notice too; it must not end a newer
    // subscription to the same name.
    if (!data && this.unsubscribing.has(params.collection)) return;
    const subscription = this.subscriptions.get(params.collection);
    if (!subscription) return;
    this.subscriptions.delete(params.collection);
    for (const subscriber of subscription.subscribers) {
      subscriber.onEnd?.(data ? new SubscriptionEndedError(params.collection, data) : null);
    }
  }

  private handleClose(code: number, reason: string): void {
    if (this.closeError) return;
    this.closeError = new ConnectionError(
      this.closingByClient
        ? 'The client closed the connection'
        : `The connection closed with code ${code}${reason ? `: ${reason}` : ''}`,
      code,
    );
    this.rpc.rejectAllPendingRequests(this.closeError.message);
    const subscriptions = [...this.subscriptions.values()];
    this.subscriptions.clear();
    for (const subscription of subscriptions) {
      for (const subscriber of subscription.subscribers) subscriber.onEnd?.(this.connectionClosed());
    }
    for (const listener of this.closeListeners) listener(code, reason);
  }
}

/** `promise`, or `onTimeout()`'s error once `ms` have passed; no limit when `ms` is undefined. */
function withTimeout<T>(promise: Promise<T>, ms: number | undefined, onTimeout: () => Error): Promise<T> {
  if (ms === undefined) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
