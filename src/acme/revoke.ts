/**
 * Revocation at the ACME server (RFC 8555 §7.6), requested with the account that holds the
 * certificate, on `certificate.update {revoked: true}` and `certificate.delete` of ACME certificates.
 */
import type { App } from '../app.js';
import type { CertificateRow } from '../certs/entities.js';
import { splitPem } from '../crypto/pem.js';
import { CallError } from '../errors/call-error.js';
import { acmeStep, withTransport } from './client.js';
import { AcmeRegistrationEntity } from './entities.js';
import { registrationClient, transportOf } from './registration.js';

/** RFC 5280 §5.3.1 reason codes, by the names `certificate.update`'s `revoked_reason` takes. */
const REASON_CODES: Readonly<Record<string, number>> = {
  UNSPECIFIED: 0,
  KEY_COMPROMISE: 1,
  CA_COMPROMISE: 2,
  AFFILIATION_CHANGED: 3,
  SUPERSEDED: 4,
  CESSATION_OF_OPERATION: 5,
  CERTIFICATE_HOLD: 6,
  PRIVILEGE_WITHDRAWN: 9,
  AA_COMPROMISE: 10,
};

const FAILED = 'Failed to revoke certificate';

/**
 * Asks the CA that issued an ACME certificate to revoke it, signing with its account key.
 * @throws CallError "Failed to revoke certificate: <problem detail>", the problem document as `extra`.
 */
export async function revokeAcmeCertificate(app: App, row: Pick<CertificateRow, 'acme_id' | 'certificate'>, reason = 'UNSPECIFIED', signal?: AbortSignal): Promise<void> {
  const registration = row.acme_id === null ? null : await app.db.getRepository(AcmeRegistrationEntity).findOneBy({ id: row.acme_id });
  if (!registration) throw new CallError(`${FAILED}: its ACME registration ${row.acme_id} does not exist`, 'ENOENT');
  const leaf = splitPem(row.certificate ?? '').find((block) => block.label === 'CERTIFICATE');
  if (!leaf) throw new CallError(`${FAILED}: there is no certificate to revoke`, 'EINVAL');
  const client = await registrationClient(app, registration);
  await withTransport(transportOf(registration, signal), () =>
    acmeStep(FAILED, () => client.revokeCertificate(leaf.pem, { reason: REASON_CODES[reason] ?? 0 }), signal),
  );
}

