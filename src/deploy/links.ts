/**
 * One-time fetch links for webhooks with `delivery: 'LINK'`: the receiver gets a URL instead of
 * the PEMs and fetches them once, before the link expires. Only the token's SHA-256 is stored, and
 * taking a link deletes its row in the same statement that finds it, so two fetches never both win.
 */
import { createHash, randomBytes } from 'node:crypto';
import { LessThan } from 'typeorm';
import type { App } from '../app.js';
import type { HttpRoute } from '../api/http-route.js';
import { transaction } from '../db/transaction.js';
import { DeployLinkEntity } from './entities.js';
import type { DeployMaterial } from './kind.js';
import { loadMaterial } from './material.js';

const ROUTE = /^\/_deploy\/link\/([A-Za-z0-9_-]{43})$/;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** What a webhook receives (`PEM`) or a link returns (`LINK`). */
export function deliveryBody(material: DeployMaterial, includePrivateKey: boolean): Record<string, unknown> {
  return {
    event: 'certificate.deployed',
    certificate: {
      id: material.certificateId,
      name: material.name,
      serial: material.serial,
      fingerprint: material.fingerprint,
      not_after: material.notAfter.toISOString(),
    },
    certificate_pem: material.certificatePem,
    chain_pem: material.chainPem,
    fullchain_pem: material.fullchainPem,
    ...(includePrivateKey && material.privateKeyPem !== null ? { private_key_pem: material.privateKeyPem } : {}),
  };
}

/** A new link for a certificate; expired links of every certificate are dropped on the way. */
export async function createLink(app: App, certificateId: number, includePrivateKey: boolean, ttlSeconds: number): Promise<{ url: string; expiresAt: Date }> {
  const now = new Date();
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
  await transaction(app.db, async (manager) => {
    const links = manager.getRepository(DeployLinkEntity);
    await links.delete({ expires_at: LessThan(now) });
    await links.insert({ token_hash: hashOf(token), certificate_id: certificateId, include_private_key: includePrivateKey, expires_at: expiresAt, created_at: now });
  });
  return { url: `${app.publicUrl}/_deploy/link/${token}`, expiresAt };
}

/** `GET /_deploy/link/<token>`: the certificate's JSON once; 404 for an unknown, used or expired link. */
export function linkRoutes(app: App): HttpRoute[] {
  return [
    async (request, response) => {
      const match = ROUTE.exec(new URL(request.url ?? '/', 'http://localhost').pathname);
      if (!match) return false;
      if (request.method !== 'GET') {
        response.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('Method not allowed\n');
        return true;
      }
      const hash = hashOf(match[1]!);
      const { link, taken } = await transaction(app.db, async (manager) => {
        const links = manager.getRepository(DeployLinkEntity);
        const found = await links.findOneBy({ token_hash: hash });
        // The delete decides: of two fetches of one link, only one deletes the row.
        return { link: found, taken: found ? ((await links.delete({ id: found.id })).affected ?? 0) === 1 : false };
      });
      if (!link || !taken || link.expires_at.getTime() <= Date.now()) {
        response.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('Not found\n');
        return true;
      }
      try {
        const material = await loadMaterial(app, link.certificate_id);
        const body = JSON.stringify(deliveryBody(material, link.include_private_key));
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      } catch (error) {
        app.logger.warn({ certificate: link.certificate_id, error: (error as Error).message }, 'deploy link could not be served');
        response.writeHead(410, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('Gone\n');
      }
      return true;
    },
  ];
}
