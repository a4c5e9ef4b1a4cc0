/**
 * CPU-heavy crypto (key generation, key derivation) on a bounded pool of worker threads of its own.
 *
 * Node's asynchronous crypto runs on libuv's thread pool, four threads shared with password hashing
 * (scrypt), file system calls and DNS look-ups: four RSA-8192 keys held all four for a minute and
 * logins waited behind them. Pool threads run each operation synchronously, so they never use
 * libuv's threads, and RSA key generation (whose time is unbounded: a prime search) may hold only
 * `keyThreads` of them, so bounded work (KDFs, EC keys) always finds a thread.
 *
 * Threads start on first use, keep the process alive only while they compute for a caller, stop
 * after `idleMs` without work (each holds some 20 MB, a cost an idle daemon need not carry), and stop
 * when the last daemon or worker holding the pool lets go (`holdCryptoPool`).
 */
import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { POOL_THREAD } from './crypto-worker.mjs';

const WORKER_URL = new URL('./crypto-worker.mjs', import.meta.url);
/** A thread this long without work stops; starting one again takes some 30 ms. */
const IDLE_THREAD_MS = 10_000;

/** What the pool's threads do: each operation's arguments and result. */
interface Operations {
  generateKeyPair: {
    args:
      | { type: 'rsa'; options: { modulusLength: number; publicExponent: number } }
      | { type: 'ec'; options: { namedCurve: string } }
      | { type: 'ed25519'; options: Record<string, never> };
    result: KeyObject;
  };
  pbkdf2: { args: { password: Uint8Array; salt: Uint8Array; iterations: number; keylen: number; digest: string }; result: Uint8Array };
  scrypt: { args: { password: Uint8Array; salt: Uint8Array; keylen: number; options: { N: number; r: number; p: number; maxmem?: number } }; result: Uint8Array };
  pkcs12Kdf: { args: { password: Uint8Array; salt: Uint8Array; iterations: number; id: 1 | 2 | 3; length: number; hash: string }; result: Uint8Array };
  decryptPkcs8: { args: { der: Uint8Array; passphrase: string }; result: KeyObject };
  openSealedTexts: { args: { key: Uint8Array; sealed: readonly string[] }; result: Array<string | null> };
  generateSealedKeyPair: { args: Operations['generateKeyPair']['args'] & { sealingKey: Uint8Array }; result: SealedKeyPair };
}

/** A private key made on the pool, with its SPKI DER and its PKCS#8 PEM sealed (SecretBox's format). */
export interface SealedKeyPair {
  privateKey: KeyObject;
  spki: Uint8Array;
  sealedPkcs8: string;
}

type Operation = keyof Operations;
/** A key to generate: Node's `generateKeyPair` type and options. */
export type KeyGeneration = Operations['generateKeyPair']['args'];
export type CryptoTask<Op extends Operation = Operation> = Op extends Operation ? { op: Op } & Operations[Op]['args'] : never;
type ResultOf<Op extends Operation> = Operations[Op]['result'];

/** How many threads the pool runs, and how many of them RSA key generation may hold at once. */
export interface CryptoPoolSize {
  threads: number;
  keyThreads: number;
}

/**
 * RSA key generation on every core (up to four: more keys at once only make each slower), and one
 * thread more, so a KDF or an EC key never waits behind RSA keys. Password hashing for logins stays
 * on libuv's pool, which nothing heavy shares any more; the OS scheduler gives it and the event
 * loop their share of the cores.
 */
export function defaultPoolSize(cores = os.availableParallelism()): CryptoPoolSize {
  const keyThreads = Math.max(1, Math.min(4, cores));
  return { threads: keyThreads + 1, keyThreads };
}

/** The error every task gets once the pool is closed. */
export class CryptoPoolClosedError extends Error {
  override readonly name = 'CryptoPoolClosedError';

  constructor() {
    super('The crypto thread pool is closed');
  }
}

interface Pending {
  id: number;
  task: CryptoTask;
  /** RSA key generation: limited to `keyThreads` at once. */
  long: boolean;
  /** Set once the caller has its answer (result, error or abort); a late result is dropped. */
  settled: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Thread {
  worker: Worker;
  /** The task it computes, also after its caller gave up on it: the thread is busy until it answers. */
  task: Pending | null;
  /** What the thread reported before it stopped, if it failed. */
  failure?: Error;
  /** Stops the thread once it has been idle for `idleMs`; cleared when it takes a task. */
  idleTimer?: NodeJS.Timeout;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string; code?: string };
}

/** A fixed number of worker threads and a FIFO queue; see the module comment. */
export class CryptoPool {
  private readonly threads = new Set<Thread>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closing = false;

  constructor(
    readonly size: CryptoPoolSize = defaultPoolSize(),
    private readonly workerUrl: URL = WORKER_URL,
    private readonly idleMs: number = IDLE_THREAD_MS,
  ) {}

  /**
   * Runs `task` on a pool thread. An abort rejects at once with the signal's reason: a waiting task
   * leaves the queue, a running one is left to finish on its thread (native crypto cannot be
   * interrupted; the thread stays counted busy, so the bound holds) and its result is dropped.
   */
  run<Op extends Operation>(task: CryptoTask<Op>, signal?: AbortSignal): Promise<ResultOf<Op>> {
    if (this.closing) return Promise.reject(new CryptoPoolClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => this.abandon(pending, signal!.reason);
      const done = <T>(settle: (value: T) => void) => (value: T) => {
        signal?.removeEventListener('abort', onAbort);
        settle(value);
      };
      const pending: Pending = {
        id: this.nextId++,
        task,
        long: (task.op === 'generateKeyPair' || task.op === 'generateSealedKeyPair') && task.type === 'rsa',
        settled: false,
        resolve: done(resolve as (value: unknown) => void),
        reject: done(reject),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Whether `close` was called: every task is refused from then on. */
  get closed(): boolean {
    return this.closing;
  }

  /** Threads started, tasks computing (also those whose caller gave up), RSA keys among them, and tasks waiting. */
  stats(): { threads: number; running: number; keys: number; queued: number } {
    const busy = [...this.threads].filter((thread) => thread.task);
    return { threads: this.threads.size, running: busy.length, keys: busy.filter((thread) => thread.task!.long).length, queued: this.queue.length };
  }

  /**
   * Rejects every waiting and running task with CryptoPoolClosedError and stops the threads.
   * Resolves once they have stopped; one in the middle of a native operation stops when it returns.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const pending of this.queue.splice(0)) settle(pending, () => pending.reject(new CryptoPoolClosedError()));
    const threads = [...this.threads];
    for (const thread of threads) if (thread.task) settle(thread.task, () => thread.task!.reject(new CryptoPoolClosedError()));
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  /** Starts waiting tasks while there are threads for them, in order, skipping RSA keys past their share. */
  private dispatch(): void {
    while (!this.closing) {
      const longRunning = [...this.threads].filter((thread) => thread.task?.long).length;
      const index = this.queue.findIndex((pending) => !pending.long || longRunning < this.size.keyThreads);
      if (index < 0) return;
      const thread = this.idleThread();
      if (!thread) return;
      const [pending] = this.queue.splice(index, 1);
      thread.task = pending!;
      clearTimeout(thread.idleTimer);
      // A caller waits for this thread now: keep the process alive until it answers.
      thread.worker.ref();
      thread.worker.postMessage({ id: pending!.id, task: pending!.task });
    }
  }

  private idleThread(): Thread | undefined {
    for (const thread of this.threads) if (!thread.task) return thread;
    if (this.threads.size >= this.size.threads) return undefined;
    return this.startThread();
  }

  /** Stops `thread` if it is still idle `idleMs` from now. */
  private retireWhenIdle(thread: Thread): void {
    clearTimeout(thread.idleTimer);
    thread.idleTimer = setTimeout(() => {
      if (thread.task) return;
      // Out of the pool first, so no task goes to a thread that is stopping.
      this.threads.delete(thread);
      void thread.worker.terminate();
    }, this.idleMs).unref();
  }

  private startThread(): Thread {
    // No execArgv: the worker is plain JavaScript and needs no loader (tsx, vitest) of the parent's.
    const worker = new Worker(this.workerUrl, { execArgv: [], name: 'certmid-crypto', workerData: POOL_THREAD });
    const thread: Thread = { worker, task: null };
    worker.unref();
    worker.on('message', (reply: Reply) => this.answer(thread, reply));
    worker.on('error', (error) => (thread.failure = error));
    worker.on('exit', () => this.stopped(thread));
    this.threads.add(thread);
    return thread;
  }

  private answer(thread: Thread, reply: Reply): void {
    const pending = thread.task;
    if (!pending || pending.id !== reply.id) return;
    thread.task = null;
    thread.worker.unref();
    settle(pending, () => (reply.ok ? pending.resolve(reply.value) : pending.reject(rebuildError(reply.error!))));
    this.dispatch();
    if (!thread.task) this.retireWhenIdle(thread);
  }

  /** A thread stopped (closed, or crashed): its task fails, and a new thread takes over on demand. */
  private stopped(thread: Thread): void {
    clearTimeout(thread.idleTimer);
    this.threads.delete(thread);
    const pending = thread.task;
    if (pending) settle(pending, () => pending.reject(thread.failure ?? new Error('A crypto pool thread stopped unexpectedly')));
    this.dispatch();
  }

  private abandon(pending: Pending, reason: unknown): void {
    const index = this.queue.indexOf(pending);
    if (index >= 0) this.queue.splice(index, 1);
    // Nobody waits for a thread still computing an abandoned task: it must not hold the process.
    for (const thread of this.threads) if (thread.task === pending) thread.worker.unref();
    settle(pending, () => pending.reject(reason));
  }
}

function settle(pending: Pending, action: () => void): void {
  if (pending.settled) return;
  pending.settled = true;
  action();
}

/** The thread's error as the same kind of error, with its message and Node's `code`. */
function rebuildError({ name, message, code }: NonNullable<Reply['error']>): Error {
  const Type = name === 'TypeError' ? TypeError : name === 'RangeError' ? RangeError : Error;
  const error: NodeJS.ErrnoException = new Type(message);
  if (Type === Error && name !== 'Error') error.name = name;
  if (code !== undefined) error.code = code;
  return error;
}

let shared: CryptoPool | null = null;
let holders = 0;

/** The process's pool, made on first use (again after it was closed). */
export function cryptoPool(): CryptoPool {
  if (!shared || shared.closed) shared = new CryptoPool();
  return shared;
}

/**
 * Declares a long-lived user of the pool (a daemon, a worker process). The returned function lets
 * go; when the last holder does, the pool closes and its threads stop, so the process can exit.
 * Several daemons in one process (tests) thus never close the pool under each other's jobs.
 */
export function holdCryptoPool(): () => Promise<void> {
  holders++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    holders--;
    if (holders > 0 || !shared) return;
    const pool = shared;
    shared = null;
    await pool.close();
  };
}

/** Bytes of `data` alone, copied: a Buffer may be a view of a larger shared pool. */
const bytes = (data: Uint8Array): Uint8Array => new Uint8Array(data);
const toBuffer = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** A new private key (RSA, ECDSA or Ed25519), generated on the pool. */
export function generateKeyOffThread(spec: KeyGeneration, signal?: AbortSignal): Promise<KeyObject> {
  return cryptoPool().run({ op: 'generateKeyPair', ...spec }, signal);
}

/** {@link generateKeyOffThread}, the key's SPKI exported and its PKCS#8 PEM sealed with `sealingKey` on the pool too. */
export function generateSealedKeyOffThread(spec: KeyGeneration, sealingKey: Uint8Array, signal?: AbortSignal): Promise<SealedKeyPair> {
  return cryptoPool().run({ op: 'generateSealedKeyPair', ...spec, sealingKey: bytes(sealingKey) }, signal);
}

/** PBKDF2 on the pool. */
export async function pbkdf2OffThread(password: Uint8Array, salt: Uint8Array, iterations: number, keylen: number, digest: string): Promise<Buffer> {
  return toBuffer(await cryptoPool().run({ op: 'pbkdf2', password: bytes(password), salt: bytes(salt), iterations, keylen, digest }));
}

/** scrypt on the pool. */
export async function scryptOffThread(password: Uint8Array, salt: Uint8Array, keylen: number, options: Operations['scrypt']['args']['options']): Promise<Buffer> {
  return toBuffer(await cryptoPool().run({ op: 'scrypt', password: bytes(password), salt: bytes(salt), keylen, options }));
}

/** The PKCS#12 KDF (RFC 7292 Appendix B.2; `id` 1 = key, 2 = IV, 3 = MAC key) on the pool. */
export async function pkcs12KdfOffThread(password: Uint8Array, salt: Uint8Array, iterations: number, id: 1 | 2 | 3, length: number, hash: string): Promise<Buffer> {
  return toBuffer(await cryptoPool().run({ op: 'pkcs12Kdf', password: bytes(password), salt: bytes(salt), iterations, id, length, hash }));
}

/** An encrypted PKCS#8 key decrypted by OpenSSL on the pool (its key derivation runs there). */
export function decryptPkcs8OffThread(der: Uint8Array, passphrase: string): Promise<KeyObject> {
  return cryptoPool().run({ op: 'decryptPkcs8', der: bytes(der), passphrase });
}

/**
 * The plaintexts of texts sealed with `key` (SecretBox's format), opened on the pool, in order;
 * null for one that does not open. `pool`: the process's unless given.
 */
export function openSealedOffThread(key: Uint8Array, sealed: readonly string[], pool: CryptoPool = cryptoPool()): Promise<Array<string | null>> {
  return pool.run({ op: 'openSealedTexts', key: bytes(key), sealed });
}
