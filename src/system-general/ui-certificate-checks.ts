import { createSecureContext } from 'node:tls';
import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { CERT_TYPE_CSR, CertificateEntity, type CertificateRow } from '../certs/entities.js';
import { ctime } from '../certs/entry.js';
import type { ValidationErrors } from '../errors/validation-errors.js';
import { pyRepr } from '../query/python.js';
import { secureContextOptions } from '../rpc/transport-policy.js';

/** TrueNAS's smallest keys a service may present (`cert_checks`): EC's 28 lets Ed25519 (32) through. */
const MIN_KEY_BITS: Record<string, number> = { EC: 28, RSA: 2048 };

/**
 * Why a certificate cannot be the daemon's own HTTPS certificate, added to `errors` at `attribute`:
 * TrueNAS's checks when `system.general.update` selects one (`_validate_ui_certificate`, then
 * `certificate.cert_services_validation`), with its words, then certmid's own: the certificate and
 * key must make a TLS context. Read through `manager` inside a transaction.
 */
export async function checkUiCertificate(app: App, id: number | null, attribute: string, errors: ValidationErrors, manager: EntityManager = app.db.manager): Promise<void> {
  const row = id === null ? null : await manager.getRepository(CertificateEntity).findOneBy({ id });
  if (!row) {
    errors.add(attribute, 'Please specify a valid certificate which exists in the system');
    return;
  }
  if (row.type & CERT_TYPE_CSR || !row.certificate) {
    errors.add(attribute, 'Selected certificate id is not a valid certificate');
    return;
  }
  const before = errors.errors.length;
  serviceChecks(row, attribute, errors);
  if (errors.errors.length === before) tlsCheck(app, row, attribute, errors);
}

/** TrueNAS's `cert_checks`, in its order and words ("less then" included). */
function serviceChecks(row: CertificateRow, attribute: string, errors: ValidationErrors): void {
  const d = row.details;
  if (!d.fingerprint) errors.add(attribute, `${row.name} certificate is malformed`);
  if (!row.privatekey) errors.add(attribute, 'Selected certificate does not have a private key');
  else if (!d.key_length) errors.add(attribute, "Failed to parse certificate's private key");
  else if (d.key_type && d.key_length < (MIN_KEY_BITS[d.key_type] ?? 0)) {
    errors.add(attribute, `${row.name}'s private key size is less then ${MIN_KEY_BITS[d.key_type]} bits`);
  }
  if (d.not_after !== null && d.not_after < Date.now()) {
    errors.add(attribute, `${pyRepr(row.name)} has expired (it was valid until ${pyRepr(ctime(new Date(d.not_after)))})`);
  }
  if (d.digest_algorithm === 'MD5' || d.digest_algorithm === 'SHA1') {
    errors.add(attribute, 'Please use a certificate whose digest algorithm has at least 112 security bits');
  }
  if (row.revoked_date) errors.add(attribute, 'This certificate is revoked');
}

/** Whatever TrueNAS would let through must still load as TLS material, or HTTPS would keep the old one. */
function tlsCheck(app: App, row: CertificateRow, attribute: string, errors: ValidationErrors): void {
  try {
    createSecureContext(secureContextOptions({ cert: row.certificate!, key: app.secrets.decrypt(row.privatekey!) }));
  } catch (error) {
    errors.add(attribute, `The certificate and its key cannot be used for HTTPS: ${(error as Error).message}`);
  }
}
