import type { KeyObject } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { createCrl, type RevocationReason } from '../crypto/crl.js';
import { splitPem } from '../crypto/pem.js';
import { withChanges } from '../db/entity-events.js';
import { CertificateAuthorityEntity, CertificateEntity, type CertificateAuthorityRow } from './entities.js';
import { caSubtree } from './entry.js';
import { openKey } from './store.js';

/** How long a CRL is valid; it is re-signed well before that, and on every revocation. */
export const CRL_VALIDITY_MS = 86_400_000 + 300_000;
/** A CRL closer than this to its nextUpdate is re-signed by the periodic check. */
const CRL_REFRESH_MARGIN_MS = 6 * 3_600_000;

/**
 * Takes the next serial of a CA and advances it in one UPDATE that returns it (SQLite and
 * PostgreSQL both have RETURNING; the fixed text is prepared once). Inside a transaction the row
 * stays locked until commit, so concurrent signers never get the same serial.
 */
export async function takeSerial(manager: EntityManager, caId: number): Promise<bigint> {
  const runner = manager.queryRunner;
  if (!runner) throw new Error('takeSerial needs a transaction');
  const placeholder = manager.connection.options.type === 'postgres' ? '$1' : '?';
  const { records } = await runner.query(`UPDATE certificate_authority SET next_serial = next_serial + 1 WHERE id = ${placeholder} RETURNING next_serial`, [caId], true);
  const [row] = records as Array<{ next_serial: number | string }>;
  if (!row) throw new Error(`certificate authority ${caId} does not exist`);
  return BigInt(row.next_serial) - 1n;
}

/** Where certificates a CA on this system issues point for its CRL and its own certificate (served by the daemon). */
export function issuerLinks(app: App, caId: number): { crlDistributionPoint: string; caIssuersUrl: string } {
  return { crlDistributionPoint: `${app.publicUrl}/crl/${caId}.crl`, caIssuersUrl: `${app.publicUrl}/ca/${caId}.crt` };
}

/** The first certificate of a CA's PEM (its own; any chain after it is ignored). */
export function firstCertificate(pem: string): string {
  return splitPem(pem).find((b) => b.label === 'CERTIFICATE')?.pem ?? pem;
}

/** What signing with a CA takes: its opened key and its own certificate. */
export interface CaSigner {
  privateKey: KeyObject;
  certificatePem: string;
}

interface CachedSigner {
  sealedKey: string;
  certificate: string;
  signer: CaSigner;
}

const signerCache = new WeakMap<App, Map<number, CachedSigner>>();

/**
 * The signer of a CA row that has a key and a certificate, opened once and reused while the row
 * read holds the same sealed key and certificate text. The row is read by the caller, so a CA
 * changed by any daemon (renewed, its key replaced) is never signed for with what it held before.
 */
export function caSigner(app: App, ca: Pick<CertificateAuthorityRow, 'id' | 'privatekey' | 'certificate'>): CaSigner {
  let byId = signerCache.get(app);
  if (!byId) signerCache.set(app, (byId = new Map()));
  const cached = byId.get(ca.id);
  if (cached && cached.sealedKey === ca.privatekey && cached.certificate === ca.certificate) return cached.signer;
  const signer = { privateKey: openKey(app, ca)!, certificatePem: firstCertificate(ca.certificate!) };
  byId.set(ca.id, { sealedKey: ca.privatekey!, certificate: ca.certificate!, signer });
  return signer;
}

const REASONS: Record<string, RevocationReason> = {
  UNSPECIFIED: 'unspecified',
  KEY_COMPROMISE: 'keyCompromise',
  CA_COMPROMISE: 'cACompromise',
  AFFILIATION_CHANGED: 'affiliationChanged',
  SUPERSEDED: 'superseded',
  CESSATION_OF_OPERATION: 'cessationOfOperation',
  CERTIFICATE_HOLD: 'certificateHold',
  PRIVILEGE_WITHDRAWN: 'privilegeWithdrawn',
  AA_COMPROMISE: 'aACompromise',
};

/**
 * Signs a new CRL for a CA that has its key: every certificate and CA it issued that is revoked,
 * with a CRL number one higher than the last. A CA without a key keeps no CRL.
 */
export async function regenerateCrl(app: App, caId: number, manager: EntityManager = app.db.manager): Promise<void> {
  const cas = manager.getRepository(CertificateAuthorityEntity);
  const ca = await cas.findOneBy({ id: caId });
  if (!ca?.certificate || !ca.privatekey) return;
  const revokedCertificates = await manager
    .getRepository(CertificateEntity)
    .createQueryBuilder('c')
    .where('c.signedby_id = :caId AND c.revoked_date IS NOT NULL', { caId })
    .getMany();
  const revokedCas = await cas.createQueryBuilder('a').where('a.signedby_id = :caId AND a.revoked_date IS NOT NULL', { caId }).getMany();
  const now = new Date();
  const crlNumber = ca.crl_number + 1;
  const { pem } = await createCrl({
    issuerCertificatePem: caSigner(app, ca).certificatePem,
    issuerPrivateKey: caSigner(app, ca).privateKey,
    crlNumber: BigInt(crlNumber),
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS),
    digest: ca.details.digest_algorithm && /^SHA(224|256|384|512)$/.test(ca.details.digest_algorithm) ? (ca.details.digest_algorithm as 'SHA256') : 'SHA256',
    revoked: [...revokedCertificates, ...revokedCas]
      .filter((row) => row.serial !== null)
      .map((row) => ({ serial: BigInt(row.serial!), revokedAt: row.revoked_date!, reason: row.revoked_reason ? REASONS[row.revoked_reason] : undefined })),
  });
  await cas.update({ id: caId }, { crl_pem: pem, crl_number: crlNumber, crl_updated_at: now, crl_next_update: new Date(now.getTime() + CRL_VALIDITY_MS) });
}

/** Re-signs every CRL that is missing or near its nextUpdate. */
export async function refreshDueCrls(app: App): Promise<void> {
  const due = Date.now() + CRL_REFRESH_MARGIN_MS;
  for (const ca of await app.db.getRepository(CertificateAuthorityEntity).find()) {
    if (ca.privatekey && ca.certificate && (!ca.crl_next_update || ca.crl_next_update.getTime() < due)) {
      await withChanges(app, async (manager, changes) => {
        await regenerateCrl(app, ca.id, manager);
        changes.changed('certificateauthority', ca.id);
      }).catch((error: unknown) => app.logger.error({ err: error, ca: ca.id }, 'CRL refresh failed'));
    }
  }
}

/**
 * Revokes a CA, every CA below it and every certificate any of them signed (TrueNAS's
 * revoke_ca_chain), then re-signs the CRLs that now list more, all after one commit.
 */
export async function revokeCaSubtree(app: App, caId: number, reason: string | null): Promise<void> {
  const now = new Date();
  await withChanges(app, async (manager, changes) => {
    const cas = manager.getRepository(CertificateAuthorityEntity);
    const rows = new Map((await cas.find()).map((row): [number, CertificateAuthorityRow] => [row.id, row]));
    const subtree = caSubtree(caId, rows);
    for (const id of subtree) {
      if (rows.get(id)?.revoked_date === null) {
        await cas.update({ id }, { revoked_date: now, revoked_reason: reason });
        changes.changed('certificateauthority', id);
      }
    }
    const certificates = manager.getRepository(CertificateEntity);
    const affected = await certificates.createQueryBuilder('c').where('c.signedby_id IN (:...subtree) AND c.revoked_date IS NULL', { subtree }).getMany();
    for (const certificate of affected) {
      await certificates.update({ id: certificate.id }, { revoked_date: now, revoked_reason: reason });
      changes.changed('certificate', certificate.id);
    }
    const issuers = new Set([...subtree, rows.get(caId)?.signedby_id].filter((id): id is number => typeof id === 'number'));
    for (const id of issuers) await regenerateCrl(app, id, manager);
  });
}
