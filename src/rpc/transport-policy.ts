import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, SecureVersion, TlsOptions } from 'node:tls';

/**
 * TLS 1.3's suites (all forward secret and AEAD), then TLS 1.2's ECDHE suites with AES-GCM or
 * ChaCha20-Poly1305: no RSA key exchange, no finite-field DHE, no CBC.
 */
const CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The TLS versions the daemon offers, as TrueNAS names them in `ui_httpsprotocols`. */
export const TLS_PROTOCOLS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** What HTTPS presents: the certificate (with its chain), its key, and the protocol versions offered (both when not given). */
export interface TlsMaterial {
  cert: string;
  key: string;
  protocols?: readonly TlsProtocol[];
}

/** The lowest and highest of the versions offered: with only two, the range is exactly them. */
function versionRange(protocols: readonly TlsProtocol[] | undefined): { minVersion: SecureVersion; maxVersion: SecureVersion } {
  const offered = TLS_PROTOCOLS.filter((version) => !protocols || protocols.length === 0 || protocols.includes(version));
  return { minVersion: offered[0]!, maxVersion: offered.at(-1)! };
}

/** The TLS context for a certificate and key; also given whole when the certificate is replaced. */
export function secureContextOptions(tls: TlsMaterial): SecureContextOptions {
  return { cert: tls.cert, key: tls.key, ...versionRange(tls.protocols), ciphers: CIPHERS, honorCipherOrder: true };
}

/** The HTTPS server's TLS options: the context above and a bound on how long a handshake may take. */
export function tlsServerOptions(tls: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return { ...secureContextOptions(tls), handshakeTimeout: handshakeTimeoutMs };
}

/**
 * The Host header as `URL.host` gives it (lower case, the scheme's default port left out), or null
 * when it is missing or more than a host and port.
 */
export function requestHost(request: http.IncomingMessage, secure: boolean): string | null {
  const header = request.headers.host;
  if (!header || /[\s/?#@\\]/.test(header)) return null;
  try {
    return new URL(`${secure ? 'https' : 'http'}://${header}`).host || null;
  } catch {
    return null;
  }
}

/**
 * Whether a WebSocket handshake may go on. A browser names the page's origin, which must be the
 * host and port the request came to, so another site's page cannot use a logged-in browser's
 * reach (or its address) to call the API; clients that send no Origin (scripts) are not browsers.
 */
export function originAllowed(request: http.IncomingMessage, secure: boolean): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const host = requestHost(request, secure);
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The same path and query on the HTTPS port of the host the client asked for, or null without a usable Host. */
export function httpsLocation(request: http.IncomingMessage, httpsPort: number): string | null {
  const host = requestHost(request, false);
  if (!host) return null;
  const { hostname } = new URL(`http://${host}`);
  const { pathname, search } = new URL(request.url ?? '/', 'http://localhost');
  return `https://${hostname}${httpsPort === 443 ? '' : `:${httpsPort}`}${pathname}${search}`;
}

/** Answers an upgrade request with an HTTP error instead of a WebSocket handshake. */
export function refuseUpgrade(socket: Duplex, status: 400 | 403 | 404, text: string): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found' }[status];
  const body = `${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
