import type { App } from '../app.js';
import type { HttpRoute } from '../rpc/ws-server.js';
import { buildWebAssets, type WebAsset } from './assets.js';

/** Scripts and styles from this origin only; the page talks to its own WebSocket endpoint. */
const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The web page at `/`, bundled on the first request and kept in memory. */
export function webRoutes(_app: App): HttpRoute[] {
  let assets: Promise<Map<string, WebAsset>> | undefined;
  return [
    async (request, response) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (path !== '/' && path !== '/app.js' && path !== '/app.css') return false;
      assets ??= buildWebAssets().catch((error: unknown) => {
        assets = undefined; // a failed build is retried on the next request
        throw error;
      });
      const file = (await assets).get(path);
      if (!file) return false;
      const headers: Record<string, string> = {
        'content-type': file.type,
        etag: file.etag,
        'cache-control': 'no-cache',
        vary: 'accept-encoding',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      };
      if (path === '/') headers['content-security-policy'] = CSP;
      if (request.headers['if-none-match'] === file.etag) {
        response.writeHead(304, headers).end();
        return true;
      }
      const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
      if (gzip) headers['content-encoding'] = 'gzip';
      const body = gzip ? file.gzip : file.body;
      headers['content-length'] = String(body.length);
      response.writeHead(200, headers).end(request.method === 'HEAD' ? undefined : body);
      return true;
    },
  ];
}
