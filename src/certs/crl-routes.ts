import type { App } from '../app.js';
import { splitPem } from '../crypto/pem.js';
import type { HttpRoute } from '../rpc/ws-server.js';
import { CertificateAuthorityEntity } from './entities.js';

const ROUTE = /^\/(crl|ca)\/(\d+)\.(crl|crt|pem|der)$/;

/**
 * Each CA's CRL and certificate over plain HTTP at stable URLs (the CRL Distribution Point and
 * AIA caIssuers that internal certificates carry): `/crl/<id>.crl` (DER), `/crl/<id>.pem`,
 * `/ca/<id>.crt` (DER), `/ca/<id>.pem`.
 */
export function crlRoutes(app: App): HttpRoute[] {
  return [
    async (request, response) => {
      const match = ROUTE.exec(new URL(request.url ?? '/', 'http://localhost').pathname);
      if (request.method !== 'GET' || !match) return false;
      const [, kind, digits, extension] = match;
      // Ids are safe integers: 5000 digits name no row (and would reach SQL as Infinity).
      const id = Number(digits);
      const ca = Number.isSafeInteger(id) ? await app.db.getRepository(CertificateAuthorityEntity).findOneBy({ id }) : null;
      const pem = kind === 'crl' ? ca?.crl_pem : ca?.certificate;
      if (!pem) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
        return true;
      }
      const block = splitPem(pem)[0]!;
      const asPem = extension === 'pem';
      const type = asPem ? 'application/x-pem-file' : kind === 'crl' ? 'application/pkix-crl' : 'application/pkix-cert';
      response.writeHead(200, { 'content-type': type, 'cache-control': 'max-age=300' }).end(asPem ? block.pem : block.der);
      return true;
    },
  ];
}
