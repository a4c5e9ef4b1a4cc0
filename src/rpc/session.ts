import { randomUUID } from 'node:crypto';
import type { Caller } from '../api/caller.js';
import { stringify } from '../client/ejson.js';
import { messageFragments } from './json-text.js';
import type { OutgoingText } from './message-writer.js';

/** Calls one connection may have in flight; TrueNAS's `SoftHardSemaphore(10, 20)` refuses the 21st. */
export const MAX_CONCURRENT_CALLS = 20;

/** Per-connection options set by `core.set_options`. */
export interface SessionOptions {
  legacy_jobs: boolean;
  private_methods: boolean;
  py_exceptions: boolean;
}

/**
 * A server notification that may go to many sessions: serialised at most once per wire form (the
 * JSON-RPC frame, the legacy frame), and the same bytes sent to every session of that form.
 */
export class Notification {
  private readonly frames = new Map<string, Buffer>();

  constructor(
    readonly method: string,
    readonly params: object,
  ) {}

  /** The frame of this notification in `form`, shaped by `shape` for the first session of that form. */
  frame(form: string, shape: (notification: Notification) => object): Buffer {
    let frame = this.frames.get(form);
    if (!frame) {
      frame = Buffer.from(this.text(form, shape));
      this.frames.set(form, frame);
    }
    return frame;
  }

  /** The text of the frame in `form`; a kind of notification that knows parts of its text already may write it itself, to the same text. */
  protected text(_form: string, shape: (notification: Notification) => object): string {
    return stringify(shape(this));
  }
}

/** The JSON-RPC form of a notification. */
export const JSON_RPC_FORM = 'jsonrpc';

export const jsonRpcNotification = ({ method, params }: Notification): object => ({ jsonrpc: '2.0', method, params });

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
    /** Sends one text message: a string, the UTF-8 bytes of a shared notification, or a string in fragments, in order (now or as they are written). */
    protected readonly sendText: (text: OutgoingText) => void,
    readonly close: (code: number, reason: string) => void,
  ) {}

  send(message: object): void {
    const fragments = messageFragments(message);
    this.sendText(Array.isArray(fragments) && fragments.length === 1 ? fragments[0]! : fragments);
  }

  /** Sends a server notification to this session alone. */
  notify(method: string, params: object): void {
    this.deliver(new Notification(method, params));
  }

  /** Sends a notification that other sessions may share; a session of another protocol overrides this to reshape it. */
  deliver(notification: Notification): void {
    this.sendText(notification.frame(JSON_RPC_FORM, jsonRpcNotification));
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
