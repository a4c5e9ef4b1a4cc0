import { createPublicKey } from 'node:crypto';
import { IsNull } from 'typeorm';
import type { JobProgressReporter } from '../api/jobs.js';
import type { App } from '../app.js';
import { parseCertificate, reissueCertificate, type Digest } from '../crypto/certificates.js';
import { generatePrivateKey, keySpecLabel, sameKeySpec } from '../crypto/keys.js';
import { withChanges } from '../db/entity-events.js';
import { CallError } from '../errors/call-error.js';
import { caSigner, takeSerial } from './authority.js';
import { certificateDetails, detailColumns } from './details.js';
import { CERT_TYPE_INTERNAL, CertificateAuthorityEntity, CertificateEntity, type CertificateAuthorityRow, type CertificateRow } from './entities.js';
import { openKey, sealKey } from './store.js';
import { keepPreviousVersion } from './versions.js';

const SIGNING_DIGESTS = new Set(['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512']);

/**
 * Whether a certificate can opt in to automatic renewal here: signed by a CA on this system
 * (CERTIFICATE_CREATE_INTERNAL, or a CSR signed by `certificateauthority.ca_sign_csr`), not ACME.
 */
export function renewableHere(row: Pick<CertificateRow, 'type' | 'signedby_id' | 'acme_id'>): boolean {
  return row.acme_id === null && (row.type & CERT_TYPE_INTERNAL) !== 0 && row.signedby_id !== null;
}

/** Why the CA can no longer sign a renewal of a certificate valid for `validityMs` from `now`, or null. */
export function caRenewalProblem(ca: CertificateAuthorityRow | null, validityMs: number, now: Date): string | null {
  if (!ca) return 'The signing certificate authority no longer exists';
  if (!ca.privatekey || !ca.certificate) return "The signing certificate authority's private key is not on this system";
  if (ca.revoked_date) return 'The signing certificate authority has been revoked';
  if (ca.not_after && ca.not_after <= now) return 'The signing certificate authority has expired';
  const notAfter = new Date(now.getTime() + validityMs);
  if (ca.not_after && ca.not_after < notAfter) {
    return `The signing certificate authority expires on ${ca.not_after.toISOString()}, before a renewal valid until ${notAfter.toISOString()} would; renew or replace the certificate authority`;
  }
  return null;
}

/** How long the certificate is valid for: a renewal keeps its lifetime to the second. */
function validityOf(row: CertificateRow): number {
  const { not_before, not_after } = row.details;
  return not_before !== null && not_after !== null ? not_after - not_before : 0;
}

/**
 * Renews a certificate signed by a CA on this system in its own row: the same CA signs the same
 * subject and extensions (SANs included) for the same lifetime from now, with a new serial, and a
 * new key of the same kind unless `rotate_key` is off. The replaced version is kept
 * (`certificate_version`) in the same transaction; the change event then moves its files, HTTPS
 * and deploy targets to the new one. Returns false when the row changed meanwhile (renewed or
 * revoked by another run), leaving it as it is.
 */
export async function renewInternalCertificate(app: App, row: CertificateRow, job: JobProgressReporter): Promise<boolean> {
  const now = new Date();
  const validity = validityOf(row);
  if (validity <= 0) throw new CallError(`Certificate ${row.name} has no readable validity to renew`, 'EINVAL');
  const ca = await app.db.getRepository(CertificateAuthorityEntity).findOneBy({ id: row.signedby_id! });
  const problem = caRenewalProblem(ca, validity, now);
  if (problem) throw new CallError(problem, 'EINVAL');
  const currentKey = openKey(app, row);
  const publicKey = currentKey ? createPublicKey(currentKey) : parseCertificate(row.certificate!).public_key;
  let key = currentKey;
  if (row.rotate_key || !currentKey) {
    const spec = sameKeySpec(publicKey);
    if (!spec) throw new CallError(`Cannot make a new ${publicKey.asymmetricKeyType ?? 'unknown'} key; turn rotate_key off to renew with the current one`, 'EINVAL');
    job.progress(20, `Generating a new ${keySpecLabel(spec)} key…`);
    key = await generatePrivateKey(spec, job.signal);
  }
  job.progress(50, 'Signing the renewed certificate');
  const digest = SIGNING_DIGESTS.has(row.details.digest_algorithm ?? '') ? (row.details.digest_algorithm as Digest) : 'SHA256';
  try {
    await withChanges(app, async (manager, changes) => {
      const certificate = await reissueCertificate({
        previousPem: row.certificate!,
        publicKey: key!,
        signer: caSigner(app, ca!),
        serial: await takeSerial(manager, ca!.id),
        notBefore: now,
        notAfter: new Date(now.getTime() + validity),
        digest,
      });
      // Only the row as it was read: another run may have renewed, revoked or opted it out since
      // (on PostgreSQL a concurrent run waits for this row and then finds it changed).
      const result = await manager.getRepository(CertificateEntity).update({ id: row.id, serial: row.serial!, revoked_date: IsNull(), auto_renew: true }, {
        certificate,
        ...(key !== currentKey ? { privatekey: sealKey(app, key!) } : {}),
        ...detailColumns(certificateDetails(certificate, key)),
        renewal_error: null,
        renewal_attempts: 0,
        renewal_next_attempt: null,
      } as never);
      // Rolls back the serial taken for it, too.
      if (!result.affected) throw new ChangedMeanwhile();
      await keepPreviousVersion(manager, row, now);
      changes.changed('certificate', row.id);
      changes.signedChanged('certificateauthority', ca!.id);
    });
    return true;
  } catch (error) {
    if (error instanceof ChangedMeanwhile) return false;
    throw error;
  }
}

/** The certificate is no longer as the run read it; its renewal is left undone. */
class ChangedMeanwhile extends Error {
  override name = 'ChangedMeanwhile';
}
