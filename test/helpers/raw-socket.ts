import WebSocket from 'ws';

/**
 * A bare WebSocket for wire-level tests: sends exact text and reads replies in order, so malformed
 * envelopes and close codes can be asserted.
 */
export class RawSocket {
  private readonly inbox: unknown[] = [];
  private readonly waiters: Array<(message: unknown) => void> = [];
  /** Request ids count up per socket, so replies never mix and runs repeat exactly. */
  private lastId = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message: unknown = JSON.parse(data.toString());
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a socket; `localAddress` picks the source address (any 127.x.y.z works on loopback). */
  static async open(url: string, options: { localAddress?: string } = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawSocket(ws);
  }

  /** A socket logged in as the test server's admin. */
  static async admin(server: { url: string; admin: { username: string; password: string } }): Promise<RawSocket> {
    const socket = await RawSocket.open(server.url);
    await socket.login(server.admin.username, server.admin.password);
    return socket;
  }

  send(payload: string | object): void {
    this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
  }

  /** The next message, failing after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued as Record<string, unknown>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('No message within the time limit')), timeoutMs);
      this.waiters.push((message) => {
        clearTimeout(timer);
        resolve(message as Record<string, unknown>);
      });
    });
  }

  /** Sends a call and returns the first reply with its id, keeping other messages queued in order. */
  /** A request id not used before on this socket. */
  nextId(): number {
    return ++this.lastId;
  }

  async call(method: string, params: unknown[] = [], id: string | number = this.nextId()): Promise<Record<string, unknown>> {
    this.send({ jsonrpc: '2.0', id, method, params });
    const others: unknown[] = [];
    for (;;) {
      const message = await this.next();
      if (message.id === id) {
        this.inbox.unshift(...others);
        return message;
      }
      others.push(message);
    }
  }

  /** The text of the reply to a call, as it came over the wire (the call's other messages queue as usual). */
  async callText(method: string, params: unknown[] = []): Promise<string> {
    const id = this.nextId();
    let text: string | undefined;
    const capture = (data: WebSocket.RawData) => {
      const raw = data.toString();
      if ((JSON.parse(raw) as { id?: unknown }).id === id) text = raw;
    };
    this.ws.on('message', capture);
    try {
      await this.call(method, params, id);
    } finally {
      this.ws.off('message', capture);
    }
    return text!;
  }

  async login(username: string, password: string): Promise<void> {
    const reply = await this.call('auth.login_ex', [{ mechanism: 'PASSWORD_PLAIN', username, password }]);
    if ((reply.result as { response_type?: string } | undefined)?.response_type !== 'SUCCESS') throw new Error('login failed');
  }

  close(): void {
    this.ws.close();
  }
}

/** The result of a reply from {@link RawSocket.call}; an error reply fails the test. */
export function resultOf(reply: Record<string, unknown>): unknown {
  if (reply.error) throw new Error(`unexpected error: ${JSON.stringify(reply.error)}`);
  return reply.result;
}
