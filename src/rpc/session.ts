import { randomUUID } from 'node:crypto';
import type { Caller } from '../api/caller.js';
import { messageFragments } from './json-text.js';

/** Calls one connection may have in flight; TrueNAS's `SoftHardSemaphore(10, 20)` refuses the 21st. */
export const MAX_CONCURRENT_CALLS = 20;

/** Per-connection options set by `core.set_options`. */
export interface SessionOptions {
  legacy_jobs: boolean;
  private_methods: boolean;
  py_exceptions: boolean;
}

/** One WebSocket connection: who is logged in, its options and its subscriptions. */
export class Session {
  readonly id = randomUUID();
  readonly createdAt = new Date();
  caller: Caller | null = null;
  readonly options: SessionOptions = { legacy_jobs: true, private_methods: false, py_exceptions: false };
  /** Subscription id → event name. */
  readonly subscriptions = new Map<string, string>();
  /** Calls received and not yet answered. */
  inFlight = 0;

  constructor(
    readonly remoteAddress: string,
    readonly origin: string | null,
    /** Sends one message: its text, or its text in fragments, in order. */
    private readonly sendText: (text: string | readonly string[]) => void,
    readonly close: (code: number, reason: string) => void,
  ) {}

  send(message: object): void {
    const fragments = messageFragments(message);
    this.sendText(fragments.length === 1 ? fragments[0]! : fragments);
  }

  /** Sends a server notification; a session of another protocol overrides this to reshape it. */
  notify(method: string, params: object): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  /** Whether any subscription of this session receives `collection` events. */
  isSubscribedTo(collection: string): boolean {
    for (const name of this.subscriptions.values()) if (name === collection || name === '*') return true;
    return false;
  }
}

/** The sessions of this daemon. */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  add(session: Session): void {
    this.sessions.set(session.id, session);
  }

  remove(session: Session): void {
    this.sessions.delete(session.id);
  }

  get(id: string | null): Session | undefined {
    return id === null ? undefined : this.sessions.get(id);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }
}
