import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a fake API sees it. */
export interface FakeRequest {
  method: string;
  /** Full URL (path and query) as sent, resolved against the fake's own origin. */
  url: URL;
  /** The request target exactly as on the wire, e.g. "/v2/domains?page=2" (signatures cover it). */
  target: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What a fake API answers; a non-string body is sent as JSON. */
export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (request: FakeRequest) => FakeResponse | Promise<FakeResponse>;

export interface FakeServer {
  /** "http://127.0.0.1:<port>" without a trailing slash. */
  origin: string;
  /** Every request received, in order. */
  requests: FakeRequest[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 with an ephemeral port that answers every request with `handler`. */
export async function startFakeServer(handler: FakeHandler): Promise<FakeServer> {
  const requests: FakeRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = req.url ?? '/';
      const request: FakeRequest = {
        method: req.method ?? 'GET',
        url: new URL(target, `http://${req.headers.host ?? '127.0.0.1'}`),
        target,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      Promise.resolve(handler(request)).then(
        (answer) => {
          const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
          const type = typeof answer.body === 'string' ? {} : { 'content-type': 'application/json' };
          res.writeHead(answer.status, { ...(text ? type : {}), ...answer.headers });
          res.end(text);
        },
        (error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(error));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        // Hanging handlers keep sockets open; drop them so close() returns.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An origin on 127.0.0.1 where nothing listens (the port was free a moment ago). */
export async function closedOrigin(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A handler that never answers, for timeout tests. */
export const neverAnswer: FakeHandler = () => new Promise<FakeResponse>(() => undefined);
