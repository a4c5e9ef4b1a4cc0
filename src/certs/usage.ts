import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';

/** Something that presents or needs a certificate: the daemon's own HTTPS, a deploy target, … */
export interface CertificateUse {
  /** The kind of user, e.g. `UI` for the daemon's own HTTPS. */
  type: string;
  /** How it is named in messages, TrueNAS's way for its services ("UI Service"). */
  name: string;
  /** The user's own id, when it is a row of its own (a deploy target). */
  id?: number;
  /**
   * The serial (openssl's hex) this user holds now, when it can tell: null while it holds none yet.
   * A renewed certificate's previous version counts as replaced everywhere once every use that
   * tells holds the new serial.
   */
  serial?: string | null;
}

/**
 * Tells which certificates one kind of user holds. A plugin declares one (`certificateUsage`), and
 * its uses then show in certificate entries (`used_by`) and stop deletion and revocation.
 */
export interface CertificateUsageProvider {
  /**
   * Every use of this kind, with the certificate it is of, or (given `ids`) the uses of those
   * certificates only; read through `manager` inside a transaction.
   */
  uses(app: App, manager: EntityManager, ids?: readonly number[]): Promise<ReadonlyArray<{ certificate: number; use: CertificateUse }>>;
}

/** Up to this many certificates, their uses are asked for by id; for more, every use is read. */
const USES_BY_ID_LIMIT = 500;

/** The uses of the certificates `ids` (of every certificate when not given), by certificate id, in plugin order. */
export async function certificateUses(app: App, manager: EntityManager = app.db.manager, ids?: readonly number[]): Promise<Map<number, CertificateUse[]>> {
  const byCertificate = new Map<number, CertificateUse[]>();
  if (ids?.length === 0) return byCertificate;
  const only = ids && ids.length <= USES_BY_ID_LIMIT ? ids : undefined;
  // Asked side by side, and taken in plugin order.
  const providers = app.registry.plugins.flatMap((plugin) => (plugin.certificateUsage ? [plugin.certificateUsage] : []));
  for (const uses of await Promise.all(providers.map((provider) => provider.uses(app, manager, only)))) {
    for (const { certificate, use } of uses) byCertificate.set(certificate, [...(byCertificate.get(certificate) ?? []), use]);
  }
  return byCertificate;
}

/** What uses one certificate. */
export async function usesOf(app: App, certificateId: number, manager?: EntityManager): Promise<CertificateUse[]> {
  return (await certificateUses(app, manager, [certificateId])).get(certificateId) ?? [];
}

/** TrueNAS's refusal to delete a certificate in use (`check_cert_deps`): "…service(s):\n1) UI Service\n". */
export function inUseText(uses: readonly CertificateUse[]): string {
  return `Certificate is being used by following service(s):\n${uses.map((use, i) => `${i + 1}) ${use.name}\n`).join('')}`;
}

/** Why a certificate in use cannot be revoked, in the shape TrueNAS gives a certificate a service holds. */
export function revokeInUseText(uses: readonly CertificateUse[]): string {
  return `This certificate is being used by ${uses.map((use) => use.name).join(', ')} and cannot be revoked`;
}
