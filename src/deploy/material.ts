import type { App } from '../app.js';
import { CERT_TYPE_CSR, CertificateAuthorityEntity, CertificateEntity, type CertificateRow } from '../certs/entities.js';
import { chainPems } from '../certs/entry.js';
import { openKey } from '../certs/store.js';
import { exportPrivateKeyPem } from '../crypto/keys.js';
import { DeployError, type DeployMaterial } from './kind.js';

/** A serial stored as decimal text, as openssl prints it: upper-case hex in whole bytes (`0C0EF6`). */
export function opensslSerial(decimal: string): string {
  const hex = BigInt(decimal).toString(16).toUpperCase();
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

/** The serial (openssl hex) a certificate row holds now, null for a CSR or an unparsed entry. */
export function currentSerial(row: Pick<CertificateRow, 'serial' | 'certificate' | 'type'>): string | null {
  if (!row.certificate || row.type & CERT_TYPE_CSR || row.serial === null) return null;
  return opensslSerial(row.serial);
}

/** PEM blocks joined, each ending in a newline. */
const joinPem = (blocks: readonly string[]) => blocks.map((block) => `${block.trim()}\n`).join('');

/**
 * What a deploy of certificate `id` sends, as it stands now. A certificate that is gone, a CSR or
 * a revoked certificate is not deployed: that is the deploy's failure, worded for the operator.
 */
export async function loadMaterial(app: App, id: number): Promise<DeployMaterial> {
  const row = await app.db.getRepository(CertificateEntity).findOneBy({ id });
  if (!row) throw new DeployError(`Certificate ${id} does not exist`);
  const serial = currentSerial(row);
  if (serial === null) throw new DeployError(`Certificate ${row.name} has no issued certificate to deploy`);
  if (row.revoked_date) throw new DeployError(`Certificate ${row.name} is revoked: it is not deployed`);
  const caRows = new Map((await app.db.getRepository(CertificateAuthorityEntity).find()).map((ca) => [ca.id, ca]));
  const [leaf = '', ...chain] = chainPems(row, { caRows });
  const key = openKey(app, row);
  return {
    certificateId: row.id,
    name: row.name,
    certificatePem: joinPem([leaf]),
    chainPem: joinPem(chain),
    fullchainPem: joinPem([leaf, ...chain]),
    privateKeyPem: key ? exportPrivateKeyPem(key) : null,
    serial,
    fingerprint: row.details.fingerprint_sha256 ?? row.details.fingerprint ?? '',
    notAfter: row.not_after ?? new Date(0),
  };
}
