import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { Session } from './session.js';

export interface ConnectionLimits {
  /** Anonymous connections kept per address group; the oldest makes way for a new one. */
  anonymousPerAddress: number;
  /** All connections kept per address group; beyond it anonymous ones go, else the new one is refused. */
  perAddress: number;
  /** How long a WebSocket session may stay anonymous. */
  loginTimeoutMs: number;
}

/**
 * Anonymous connections kept across all addresses, so that many addresses together cannot use up
 * the process's file descriptors either (the common soft limit is 1024).
 */
const ANONYMOUS_TOTAL = 512;
/** How long a WebSocket we closed may take to answer the close frame before its socket is cut. */
const CLOSE_GRACE_MS = 1000;
/** WebSocket close code for a policy violation. */
const POLICY_VIOLATION = 1008;

/** One TCP connection, from accept to close: HTTP requests, maybe TLS, maybe a WebSocket session. */
class Connection {
  session: Session | null = null;
  ws: WebSocket | null = null;
  /** Asked to close; it no longer counts as a live anonymous connection. */
  closing = false;
  loginDeadline: NodeJS.Timeout | undefined;

  constructor(
    /** The accepted TCP socket (under TLS, the raw one: destroying it ends both). */
    readonly socket: Socket,
    readonly group: string,
  ) {}

  get anonymous(): boolean {
    return !this.session?.caller;
  }
}

/**
 * Keeps connections from starving the daemon of sockets and file descriptors. Every accepted
 * connection counts against its address until a WebSocket session on it logs in. When an address
 * has too many anonymous connections, its oldest one is closed to make room, so a fresh connection
 * can always log in; logged-in connections are never closed for anonymous ones. Anonymous WebSocket
 * sessions get a login deadline that no message extends.
 */
export class ConnectionGuard {
  /** Oldest first (a Set iterates in insertion order). */
  private readonly connections = new Set<Connection>();
  private readonly groups = new Map<string, Set<Connection>>();
  private readonly bySocket = new WeakMap<Socket, Connection>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** A newly accepted TCP connection (a server's `connection` event): room is made, or it is refused. */
  admit(socket: Socket): void {
    const group = addressGroup(socket.remoteAddress);
    const members = this.groups.get(group) ?? new Set<Connection>();
    if (!this.makeRoom(members)) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, group);
    this.connections.add(connection);
    this.groups.set(group, members.add(connection));
    this.bySocket.set(socket, connection);
    socket.once('close', () => this.forget(connection));
  }

  /** The TLS socket over a connection admitted as plain TCP (an HTTPS server's `secureConnection`). */
  adoptTls(tlsSocket: TLSSocket): void {
    for (const connection of this.groups.get(addressGroup(tlsSocket.remoteAddress)) ?? []) {
      if (connection.socket.remotePort === tlsSocket.remotePort && connection.socket.localPort === tlsSocket.localPort) {
        this.bySocket.set(tlsSocket, connection);
        return;
      }
    }
  }

  /**
   * A WebSocket session began on `socket`. Returns what to call after each message the session is
   * sent: that is when a login or a logout has taken effect, so the deadline is dropped or armed.
   */
  attach(socket: Socket, session: Session, ws: WebSocket): () => void {
    const connection = this.bySocket.get(socket);
    if (!connection) return () => undefined;
    connection.session = session;
    connection.ws = ws;
    const review = () => this.reviewDeadline(connection);
    review();
    return review;
  }

  private reviewDeadline(connection: Connection): void {
    if (!connection.anonymous) {
      clearTimeout(connection.loginDeadline);
      connection.loginDeadline = undefined;
    } else if (!connection.loginDeadline && !connection.closing) {
      connection.loginDeadline = setTimeout(() => {
        connection.loginDeadline = undefined;
        if (connection.anonymous) this.close(connection, `Not logged in within ${this.limits.loginTimeoutMs / 1000} seconds`);
      }, this.limits.loginTimeoutMs).unref();
    }
  }

  /** Closes what must go for one more connection of `members`; false when only logged-in ones are left to close. */
  private makeRoom(members: Set<Connection>): boolean {
    this.closeOldestAnonymous(members, this.limits.anonymousPerAddress - 1, 'Too many anonymous connections from this address');
    this.closeOldestAnonymous(this.connections, ANONYMOUS_TOTAL - 1, 'Too many anonymous connections');
    while (members.size >= this.limits.perAddress) {
      const victim = oldest(members, (c) => c.closing) ?? oldest(members, (c) => c.anonymous);
      if (!victim) return false;
      this.close(victim, 'Too many connections from this address');
      this.cut(victim);
    }
    return true;
  }

  /** Closes the oldest live anonymous connections among `connections` until at most `keep` remain. */
  private closeOldestAnonymous(connections: Iterable<Connection>, keep: number, reason: string): void {
    const anonymous = [...connections].filter((c) => c.anonymous && !c.closing);
    for (const connection of anonymous.slice(0, Math.max(0, anonymous.length - keep))) this.close(connection, reason);
  }

  /** A WebSocket gets a close frame and a moment to answer it; a plain HTTP connection is cut. */
  private close(connection: Connection, reason: string): void {
    if (connection.closing) return;
    connection.closing = true;
    clearTimeout(connection.loginDeadline);
    if (!connection.ws) {
      this.cut(connection);
      return;
    }
    connection.ws.close(POLICY_VIOLATION, reason);
    setTimeout(() => connection.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private cut(connection: Connection): void {
    connection.socket.destroy();
    this.forget(connection);
  }

  private forget(connection: Connection): void {
    clearTimeout(connection.loginDeadline);
    this.connections.delete(connection);
    const members = this.groups.get(connection.group);
    members?.delete(connection);
    if (members?.size === 0) this.groups.delete(connection.group);
  }
}

function oldest(connections: Iterable<Connection>, test: (connection: Connection) => boolean): Connection | undefined {
  for (const connection of connections) if (test(connection)) return connection;
  return undefined;
}

/**
 * The address a connection counts against: the IPv4 address (also when mapped into IPv6), or the
 * /64 of an IPv6 address, since one host commonly holds a whole /64.
 */
export function addressGroup(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  const unscoped = address.split('%')[0]!;
  return isIPv6(unscoped) ? `${ipv6Groups(unscoped).slice(0, 4).join(':')}::/64` : address;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const parts = (text: string) => (text ? text.split(':').flatMap((part) => (part.includes('.') ? ['0', '0'] : [part])) : []);
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((part) => parseInt(part, 16).toString(16));
}
