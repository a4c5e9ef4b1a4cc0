import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { App } from '../app.js';
import { RPC_CODE } from '../errors/codes.js';
import { isExpectedError, toRpcError, type RpcError } from '../errors/to-rpc-error.js';
import { checkEnvelope, type RequestId } from './envelope.js';
import { dispatch } from './dispatcher.js';
import { LegacySession, onLegacyText } from './legacy-websocket.js';
import { MAX_CONCURRENT_CALLS, Session } from './session.js';

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

/** An HTTP route served beside the API (the web page, CRLs). Returns false to fall through. */
export type HttpRoute = (request: http.IncomingMessage, response: http.ServerResponse) => boolean | Promise<boolean>;

export interface RpcServer {
  readonly port: number;
  readonly url: string;
  /** Also serves everything over TLS on `port` (0 picks one); returns the port. */
  listenTls(tls: { cert: string; key: string }, port: number): Promise<number>;
  /** Presents new TLS material to new connections (after the UI certificate was renewed). */
  reloadTls(tls: { cert: string; key: string }): void;
  close(): Promise<void>;
}

/** Starts the HTTP server with the WebSocket endpoints; an HTTPS twin can be added once a certificate exists. */
export async function startRpcServer(app: App, routes: readonly HttpRoute[] = []): Promise<RpcServer> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * AUTHENTICATED_MAX_MESSAGE });
  const servers: Array<http.Server | https.Server> = [];
  const serve = async (server: http.Server | https.Server, port: number): Promise<number> => {
    server.on('request', (request, response) => void serveHttp(app, routes, request, response));
    server.on('upgrade', (request: http.IncomingMessage, socket, head) => {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      const upgrade = <S extends Session>(endpoint: Endpoint<S>) =>
        wss.handleUpgrade(request, socket, head, (ws) => acceptConnection(app, ws, request, endpoint));
      if (API_PATHS.has(path)) upgrade(JSON_RPC);
      else if (path === LEGACY_PATH) upgrade(LEGACY);
      else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, app.config.host, () => resolve());
    });
    servers.push(server);
    return (server.address() as AddressInfo).port;
  };

  const port = await serve(http.createServer(), app.config.port);
  const host = app.config.host.includes(':') ? `[${app.config.host}]` : app.config.host;
  return {
    port,
    url: `ws://${host}:${port}/api/current`,
    listenTls: (tls, tlsPort) => serve(https.createServer({ cert: tls.cert, key: tls.key }), tlsPort),
    reloadTls(tls) {
      for (const server of servers) if (server instanceof https.Server) server.setSecureContext({ cert: tls.cert, key: tls.key });
    },
    async close() {
      for (const ws of wss.clients) ws.close(1001, 'Server is shutting down');
      wss.close();
      await Promise.all(
        servers.map((server) => {
          server.closeIdleConnections();
          // Browsers keep HTTP connections open; after a moment of grace they are cut.
          const cut = setTimeout(() => server.closeAllConnections(), 1000);
          return new Promise<void>((resolve) => server.close(() => (clearTimeout(cut), resolve())));
        }),
      );
    },
  };
}

async function serveHttp(app: App, routes: readonly HttpRoute[], request: http.IncomingMessage, response: http.ServerResponse) {
  try {
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

function acceptConnection<S extends Session>(app: App, ws: WebSocket, request: http.IncomingMessage, endpoint: Endpoint<S>): void {
  const remoteAddress = request.socket.remoteAddress ?? 'unknown';
  const session = new endpoint.Session(
    remoteAddress,
    request.headers.origin ?? null,
    (text) => {
      if (ws.readyState === ws.OPEN) ws.send(text);
    },
    (code, reason) => ws.close(code, reason),
  );
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
