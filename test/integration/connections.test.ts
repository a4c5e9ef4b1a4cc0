/**
 * Connections cannot starve the daemon: anonymous WebSocket connections have a login deadline,
 * slow or silent HTTP is cut, and anonymous connections from one address make way for new ones,
 * so a flood from one address never locks the administrator out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const LOGIN_TIMEOUT_SECONDS = 2;
const REQUEST_TIMEOUT_SECONDS = 2;
const ANONYMOUS_PER_ADDRESS = 8;
const PER_ADDRESS = 16;
/** Far beyond every deadline above: what is guarded against would last this long unguarded. */
const PATIENCE_MS = 20_000;

let server: TestServer;
const opened: Array<{ close(): void }> = [];

beforeAll(async () => {
  server = await startTestServer({
    env: {
      HTTPS_PORT: '0',
      LOGIN_TIMEOUT_SECONDS: String(LOGIN_TIMEOUT_SECONDS),
      REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS),
      ANONYMOUS_CONNECTIONS_PER_ADDRESS: String(ANONYMOUS_PER_ADDRESS),
      CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
    },
  });
});
afterEach(async () => {
  for (const socket of opened.splice(0)) socket.close();
  // Each test counts connections from a clean slate: wait until the daemon has seen every close.
  await expect.poll(() => server.daemon.app.sessions.all().length, { timeout: 10_000 }).toBe(0);
});
afterAll(async () => {
  await server?.close();
});

async function open(url = server.url): Promise<RawSocket> {
  const socket = await RawSocket.open(url);
  opened.push(socket);
  return socket;
}

async function admin(): Promise<RawSocket> {
  const socket = await open();
  await socket.login(server.admin.username, server.admin.password);
  return socket;
}

/** Resolves with what `closing` resolved to, or with null after `ms`. */
function within<T>(closing: Promise<T>, ms = PATIENCE_MS): Promise<T | null> {
  return Promise.race([closing, sleep(ms).then(() => null)]);
}

/** Sends a call every 200 ms, as a client that tries to keep its connection alive. */
function keepBusy(send: (n: number) => void): () => void {
  let n = 0;
  const timer = setInterval(() => send(n++), 200);
  return () => clearInterval(timer);
}

describe('the login deadline', () => {
  it('closes an anonymous JSON-RPC connection however many calls it sends', async () => {
    const socket = await open();
    const stop = keepBusy((n) => {
      socket.send({ jsonrpc: '2.0', id: n, method: n % 2 ? 'core.ping' : 'core.set_options', params: n % 2 ? [] : [{ legacy_jobs: false }] });
    });
    const closed = await within(socket.closed);
    stop();
    expect(closed).toEqual({ code: 1008, reason: `Not logged in within ${LOGIN_TIMEOUT_SECONDS} seconds` });
    // It was busy until then (core.set_options answered, core.ping refused before login), and that did not extend the deadline.
    const replies: Array<Record<string, unknown>> = [];
    for (;;) {
      const reply = await socket.next(0).catch(() => null);
      if (!reply) break;
      replies.push(reply);
    }
    expect(replies.filter((reply) => reply.result !== undefined).length).toBeGreaterThan(2);
  });

  it('closes an anonymous legacy /websocket connection the same way', async () => {
    const socket = await open(server.url.replace('/api/current', '/websocket'));
    socket.send({ msg: 'connect', version: '1', support: ['1'] });
    expect((await socket.next()).msg).toBe('connected');
    const stop = keepBusy((n) => socket.send({ id: String(n), msg: 'method', method: 'core.ping', params: [] }));
    const closed = await within(socket.closed);
    stop();
    expect(closed).toEqual({ code: 1008, reason: `Not logged in within ${LOGIN_TIMEOUT_SECONDS} seconds` });
  });

  it('closes an anonymous wss:// connection the same way', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${server.daemon.httpsPort}/api/current`, { rejectUnauthorized: false });
    opened.push(ws);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(await within(closed)).toEqual({ code: 1008, reason: `Not logged in within ${LOGIN_TIMEOUT_SECONDS} seconds` });
  });

  it('keeps a logged-in connection past the deadline, and closes it once it logs out', async () => {
    const socket = await admin();
    await sleep(LOGIN_TIMEOUT_SECONDS * 2000);
    expect((await socket.call('core.ping')).result).toBe('pong');
    expect((await socket.call('auth.logout')).result).toBe(true);
    expect(await within(socket.closed)).toEqual({ code: 1008, reason: `Not logged in within ${LOGIN_TIMEOUT_SECONDS} seconds` });
  });
});

/** A client that sends the start of a request and then one more header line every 500 ms, forever. */
function slowHeaders(connect: () => net.Socket, head: string): { closed: Promise<true | null>; stop(): void } {
  const socket = connect();
  socket.on('error', () => undefined);
  let n = 0;
  const timer = setInterval(() => socket.write(`X-Slow-${n++}: still coming\r\n`), 500);
  socket.write(head);
  const closed = within(new Promise<true>((resolve) => socket.once('close', () => resolve(true))));
  return { closed, stop: () => (clearInterval(timer), socket.destroy()) };
}

describe('slow and silent HTTP', () => {
  const plain = () => net.connect(server.port, '127.0.0.1');
  const overTls = () => tls.connect({ port: server.daemon.httpsPort!, host: '127.0.0.1', rejectUnauthorized: false });
  const upgrade = 'GET /api/current HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

  it('cuts requests whose headers trickle in, plain and over TLS, page and WebSocket upgrade', async () => {
    const clients = [
      slowHeaders(plain, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
      slowHeaders(plain, upgrade),
      slowHeaders(plain, 'GET /websocket HTTP/1.1\r\n'),
      slowHeaders(overTls, 'GET /api/versions HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
      slowHeaders(overTls, upgrade),
    ];
    const outcomes = await Promise.all(clients.map((client) => client.closed));
    for (const client of clients) client.stop();
    expect(outcomes).toEqual([true, true, true, true, true]);
  });

  it('cuts connections that send nothing, and TLS handshakes that never start', async () => {
    const silent = [plain(), net.connect(server.daemon.httpsPort!, '127.0.0.1')];
    const outcomes = await Promise.all(
      silent.map((socket) => {
        socket.on('error', () => undefined);
        return within(new Promise<true>((resolve) => socket.once('close', () => resolve(true))));
      }),
    );
    for (const socket of silent) socket.destroy();
    expect(outcomes).toEqual([true, true]);
  });
});

describe('connections per address', () => {
  it('closes the oldest anonymous connections beyond the cap and never a logged-in one', async () => {
    const loggedIn = await admin();
    const anonymous: RawSocket[] = [];
    for (let i = 0; i < ANONYMOUS_PER_ADDRESS + 12; i++) anonymous.push(await open());
    const evicted = await Promise.all(anonymous.slice(0, 12).map((socket) => within(socket.closed, 10_000)));
    expect(evicted).toEqual(Array.from({ length: 12 }, () => ({ code: 1008, reason: 'Too many anonymous connections from this address' })));
    for (const socket of anonymous.slice(12)) expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    // The newest anonymous connection can still log in, and the logged-in one was left alone.
    await anonymous.at(-1)!.login(server.admin.username, server.admin.password);
    expect((await loggedIn.call('core.ping')).result).toBe('pong');
  });

  it('refuses connections beyond the cap when every connection of that address is logged in', async () => {
    const sockets: RawSocket[] = [];
    for (let i = 0; i < PER_ADDRESS; i++) sockets.push(await admin());
    await expect(RawSocket.open(server.url)).rejects.toThrow();
    // One logging out makes its connection anonymous, so the next one takes its place.
    await sockets[0]!.call('auth.logout');
    const next = await admin();
    expect((await next.call('core.ping')).result).toBe('pong');
    expect(await within(sockets[0]!.closed, 10_000)).not.toBeNull();
    for (const socket of sockets.slice(1)) expect((await socket.call('core.ping')).result).toBe('pong');
  });
});

/** The daemon as `npm start` runs it, with the common limit of 1024 open files. */
async function startLimitedDaemon(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn('bash', ['-c', 'ulimit -n 1024 && exec "$0" --import tsx src/main.ts', process.execPath], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: dataDir, PORT: '0', ADMIN_PASSWORD: 'flood-test-password', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /"url":"(ws:[^"]+)"/.exec(buffer);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
  });
  return { child, url };
}

/** Opens a WebSocket and leaves it idle; resolves once it is open, has failed or got no answer in 5 s. */
function idleWebSocket(url: string, sockets: WebSocket[]): Promise<void> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  ws.on('error', () => undefined);
  return settled(ws, ['open', 'close']);
}

/** A connection that sends nothing; resolves once connected, closed or after 5 s. */
function silentSocket(port: number, sockets: net.Socket[]): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  sockets.push(socket);
  return settled(socket, ['connect', 'close']);
}

function settled(emitter: { once(event: string, listener: () => void): unknown }, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    for (const event of events) emitter.once(event, () => resolve());
    setTimeout(resolve, 5000);
  });
}

describe('a flood of idle connections from one address', () => {
  let daemon: { child: ChildProcess; url: string } | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-flood-'));
  const flood: WebSocket[] = [];
  const silent: net.Socket[] = [];
  afterAll(async () => {
    for (const ws of flood) ws.terminate();
    for (const socket of silent) socket.destroy();
    if (daemon) {
      const exited = new Promise((resolve) => daemon!.child.once('exit', resolve));
      daemon.child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('does not lock the admin out: after 1,000 idle anonymous sockets and 1,000 silent ones the admin logs in', { timeout: 120_000 }, async () => {
    daemon = await startLimitedDaemon(dataDir);
    const port = Number(new URL(daemon.url).port);
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(Array.from({ length: 20 }, () => idleWebSocket(daemon!.url, flood)));
    }
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(Array.from({ length: 20 }, () => silentSocket(port, silent)));
    }
    const socket = await RawSocket.open(daemon.url);
    await socket.login('admin', 'flood-test-password');
    expect((await socket.call('core.ping')).result).toBe('pong');
    // What the flood holds on the daemon's side stays bounded: the anonymous connections beyond
    // the cap were closed.
    expect(fs.readdirSync(`/proc/${daemon.child.pid}/fd`).length).toBeLessThan(300);
    socket.close();
  });
});
