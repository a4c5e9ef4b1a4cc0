import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { HttpRoute } from '../api/http-route.js';
import type { App } from '../app.js';
import { RPC_CODE } from '../errors/codes.js';
import { isExpectedError, toRpcError, type RpcError } from '../errors/to-rpc-error.js';
import { ConnectionGuard } from './connection-guard.js';
import { checkEnvelope, type RequestId } from './envelope.js';
import { dispatch } from './dispatcher.js';
import { LegacySession, onLegacyText } from './legacy-websocket.js';
import { MessageWriter } from './message-writer.js';
import { MAX_CONCURRENT_CALLS, Session } from './session.js';
import { httpsLocation, originAllowed, refuseUpgrade, secureContextOptions, tlsServerOptions, type TlsMaterial } from './transport-policy.js';

/** Paths that speak JSON-RPC 2.0; the versioned ones (24.10's too) are the same API as `current`. */
export const API_PATHS = new Set(['/api/current', '/api/v25.04.0', '/api/v25.04.1', '/api/v25.04.2', '/api/v24.10']);
/** Versions listed by `/api/versions`; like TrueNAS, without v24.10. */
export const API_VERSIONS = ['v25.04.0', 'v25.04.1', 'v25.04.2'];
/** The legacy DDP-style protocol (TrueNAS 24.10 and before, still served by 25.04). */
export const LEGACY_PATH = '/websocket';

const ANONYMOUS_MAX_MESSAGE = 8192;
const AUTHENTICATED_MAX_MESSAGE = 65536;

/** One protocol spoken over WebSocket: the session it needs and what it does with a text message. */
interface Endpoint<S extends Session> {
  Session: new (...args: ConstructorParameters<typeof Session>) => S;
  onText(app: App, session: S, text: string): void;
}

const JSON_RPC: Endpoint<Session> = { Session, onText: onRpcText };
const LEGACY: Endpoint<LegacySession> = { Session: LegacySession, onText: onLegacyText };

export type { HttpRoute } from '../api/http-route.js';

export interface RpcServer {
  readonly port: number;
  readonly url: string;
  /** The port HTTPS listens on, or null while it does not. */
  readonly httpsPort: number | null;
  /**
   * Serves everything over TLS on `port` (0 picks one) and returns the port. An earlier TLS
   * listener stops taking connections; those it has stay open until they end.
   */
  listenTls(tls: TlsMaterial, port: number): Promise<number>;
  /** Stops taking TLS connections; open ones stay until they end. */
  stopTls(): void;
  /** Presents new TLS material (a renewed or another certificate, other versions) to new connections. */
  reloadTls(tls: TlsMaterial): void;
  /** Whether plain HTTP only redirects to HTTPS (and refuses the API); it does so only while HTTPS listens. */
  setHttpsOnly(on: boolean): void;
  close(): Promise<void>;
}

/** Relying parties fetch CRLs and CA certificates over plain HTTP: HTTPS_ONLY leaves them there. */
const RELYING_PARTY_PATHS = /^\/(crl|ca)\//;
/** How often Node looks for requests past their deadline. */
const TIMEOUT_CHECK_MS = 500;
/** How long an idle keep-alive HTTP connection is kept for the next request (Node's default). */
const KEEP_ALIVE_MS = 5000;

/** Starts the HTTP server with the WebSocket endpoints; an HTTPS twin can be added once a certificate exists. */
export async function startRpcServer(app: App, routes: readonly HttpRoute[] = []): Promise<RpcServer> {
  const { config } = app;
  const requestTimeoutMs = config.requestTimeoutSeconds * 1000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * AUTHENTICATED_MAX_MESSAGE });
  const guard = new ConnectionGuard({
    anonymousPerAddress: config.anonymousConnectionsPerAddress,
    perAddress: config.connectionsPerAddress,
    loginTimeoutMs: config.loginTimeoutSeconds * 1000,
  });
  const servers: Array<http.Server | https.Server> = [];
  /** The HTTPS listener taking connections, if any; earlier ones keep only their open connections. */
  let tlsServer: https.Server | null = null;
  let httpsPort: number | null = null;
  let httpsOnly = config.httpsOnly;
  /** Redirects and refusals only while HTTPS listens: never a plain port that sends everyone nowhere. */
  const redirecting = () => httpsOnly && httpsPort !== null;
  // Slow or silent clients are cut: headers (upgrades included) must arrive within the request timeout.
  const httpOptions: http.ServerOptions = {
    headersTimeout: requestTimeoutMs,
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, requestTimeoutMs),
    keepAliveTimeout: KEEP_ALIVE_MS,
  };

  const serve = async (server: http.Server | https.Server, port: number): Promise<number> => {
    const secure = server instanceof https.Server;
    // A connection that sends nothing, or on which nothing moves (a slow reader), is cut as soon.
    server.timeout = requestTimeoutMs;
    server.on('connection', (socket: Socket) => guard.admit(socket));
    if (secure) server.on('secureConnection', (socket: TLSSocket) => guard.adoptTls(socket));
    server.on('request', (request, response) => {
      // The path as the routes will see it, `..` resolved.
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (!secure && redirecting() && !RELYING_PARTY_PATHS.test(path)) redirectToHttps(request, response, httpsPort);
      else void serveHttp(app, routes, request, response, secure);
    });
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      const endpoint = API_PATHS.has(path) ? JSON_RPC : path === LEGACY_PATH ? LEGACY : null;
      if (!endpoint) refuseUpgrade(socket, 404, 'Not found');
      else if (!secure && redirecting()) refuseUpgrade(socket, 403, `The API is served over HTTPS only, on port ${httpsPort}`);
      else if (!originAllowed(request, secure)) refuseUpgrade(socket, 403, 'Origin not allowed');
      else upgrade(request, socket, head, endpoint);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.host, () => resolve());
    });
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };
  const upgrade = <S extends Session>(request: http.IncomingMessage, socket: Duplex, head: Buffer, endpoint: Endpoint<S>) =>
    wss.handleUpgrade(request, socket, head, (ws) => acceptConnection(app, guard, ws, request, endpoint));

  /** Stops a listener taking connections; it leaves `servers` once its last connection ended. */
  const retire = (server: https.Server) => {
    server.close(() => servers.splice(servers.indexOf(server), 1));
  };

  const port = await serve(http.createServer(httpOptions), config.port);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    port,
    url: `ws://${host}:${port}/api/current`,
    get httpsPort() {
      return httpsPort;
    },
    async listenTls(tls, tlsPort) {
      const server = https.createServer({ ...httpOptions, ...tlsServerOptions(tls, requestTimeoutMs) });
      const listening = await serve(server, tlsPort);
      if (tlsServer) retire(tlsServer);
      tlsServer = server;
      httpsPort = listening;
      return listening;
    },
    stopTls() {
      if (tlsServer) retire(tlsServer);
      tlsServer = null;
      httpsPort = null;
    },
    reloadTls(tls) {
      // A new secure context starts from Node's defaults: the protocol and suite limits go in again.
      tlsServer?.setSecureContext(secureContextOptions(tls));
    },
    setHttpsOnly(on) {
      httpsOnly = on;
    },
    async close() {
      for (const ws of wss.clients) ws.close(1001, 'Server is shutting down');
      wss.close();
      await Promise.all(
        [...servers].map((server) => {
          server.closeIdleConnections();
          // Browsers keep HTTP connections open; after a moment of grace they are cut.
          const cut = setTimeout(() => server.closeAllConnections(), 1000);
          if (!server.listening) return new Promise<void>((resolve) => server.once('close', () => (clearTimeout(cut), resolve())));
          return new Promise<void>((resolve) => server.close(() => (clearTimeout(cut), resolve())));
        }),
      );
    },
  };
}

/** HTTPS_ONLY on plain HTTP: 301 to the same path on the HTTPS port of the host the client named. */
function redirectToHttps(request: http.IncomingMessage, response: http.ServerResponse, httpsPort: number | null): void {
  const location = httpsPort === null ? null : httpsLocation(request, httpsPort);
  if (!location) {
    response.writeHead(httpsPort === null ? 503 : 400, { 'content-type': 'text/plain', connection: 'close' }).end('Use HTTPS\n');
    return;
  }
  response.writeHead(301, { location, 'content-type': 'text/plain' }).end(`Moved to ${location}\n`);
}

async function serveHttp(app: App, routes: readonly HttpRoute[], request: http.IncomingMessage, response: http.ServerResponse, secure: boolean) {
  try {
    // Browsers that once reached the daemon over HTTPS keep to it for this host.
    if (secure) response.setHeader('strict-transport-security', `max-age=${app.config.hstsMaxAgeSeconds}`);
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method === 'GET' && path === '/api/versions') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(API_VERSIONS));
      return;
    }
    for (const route of routes) if (await route(request, response)) return;
    response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
  } catch (error) {
    app.logger.error({ err: error, url: request.url }, 'HTTP request failed');
    if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
    response.end('Internal error\n');
  }
}

function acceptConnection<S extends Session>(app: App, guard: ConnectionGuard, ws: WebSocket, request: http.IncomingMessage, endpoint: Endpoint<S>): void {
  const remoteAddress = request.socket.remoteAddress ?? 'unknown';
  let reviewLoginDeadline: () => void = () => undefined;
  const writer = new MessageWriter(ws, (error) => app.logger.error({ err: error, session: session.id }, 'streamed reply failed'));
  const session = new endpoint.Session(
    remoteAddress,
    request.headers.origin ?? null,
    (text) => {
      writer.write(text);
      // A reply is sent once a login or logout took effect.
      reviewLoginDeadline();
    },
    (code, reason) => ws.close(code, reason),
  );
  reviewLoginDeadline = guard.attach(request.socket, session, ws);
  app.sessions.add(session);
  app.logger.debug({ session: session.id, remoteAddress }, 'connection opened');
  ws.on('message', (data, isBinary) => {
    const text = readText(session, data, isBinary);
    if (text !== undefined) endpoint.onText(app, session, text);
  });
  ws.on('close', () => {
    app.sessions.remove(session);
    app.logger.debug({ session: session.id }, 'connection closed');
  });
  ws.on('error', (error) => app.logger.debug({ err: error, session: session.id }, 'connection error'));
}

function reply(session: Session, id: RequestId, outcome: { result: unknown } | { error: RpcError }): void {
  session.send({ jsonrpc: '2.0', ...outcome, id });
}

/** The text of a frame both protocols accept, or undefined when the frame closed the connection. */
function readText(session: Session, data: RawData, isBinary: boolean): string | undefined {
  if (isBinary) {
    session.close(1003, 'Binary frames are not supported');
    return undefined;
  }
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  if (!session.caller && buffer.length > ANONYMOUS_MAX_MESSAGE) {
    session.close(1007, 'Anonymous connection max message length is 8 kB');
    return undefined;
  }
  if (buffer.length > AUTHENTICATED_MAX_MESSAGE) {
    session.close(1009, 'Max message length is 64 kB');
    return undefined;
  }
  return buffer.toString('utf8');
}

function onRpcText(app: App, session: Session, text: string): void {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    reply(session, null, { error: { code: RPC_CODE.PARSE_ERROR, message: (error as Error).message } });
    return;
  }
  const envelope = checkEnvelope(message);
  if (!envelope.ok) {
    reply(session, envelope.id, { error: envelope.error });
    return;
  }
  const { request } = envelope;
  const isNotification = request.id === undefined;
  const answer = (outcome: { result: unknown } | { error: RpcError }) => {
    if (!isNotification) reply(session, request.id ?? null, outcome);
  };
  const method = app.registry.method(request.method);
  if (!method) {
    answer({ error: { code: RPC_CODE.METHOD_NOT_FOUND, message: 'Method does not exist' } });
    return;
  }
  if (session.inFlight >= MAX_CONCURRENT_CALLS) {
    answer({
      error: {
        code: RPC_CODE.TOO_MANY_CONCURRENT_CALLS,
        message: `Maximum number of concurrent calls (${MAX_CONCURRENT_CALLS}) has exceeded`,
      },
    });
    return;
  }
  session.inFlight++;
  dispatch(app, session, method, request)
    .then((result) => answer({ result: result ?? null }))
    .catch((error: unknown) => {
      if (!isExpectedError(error)) app.logger.error({ err: error, method: request.method }, 'method failed unexpectedly');
      answer({ error: toRpcError(error) });
    })
    .finally(() => session.inFlight--);
}
