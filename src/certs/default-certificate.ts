import { createPublicKey, randomInt, type KeyObject } from 'node:crypto';
import { EntitySchema, type EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { issueCertificate } from '../crypto/certificates.js';
import { defaultExtensions } from '../crypto/extensions.js';
import { generatePrivateKey } from '../crypto/keys.js';
import { withChanges } from '../db/entity-events.js';
import { selectRows } from '../db/row-statements.js';
import { certificateDetails, detailColumns } from './details.js';
import { CERT_TYPE_EXISTING, CertificateEntity, type StoredDetails } from './entities.js';
import { sealKey } from './store.js';
import { keepPreviousVersion } from './versions.js';

/** TrueNAS's name, so clients that look for the default certificate find it. */
export const DEFAULT_CERTIFICATE_NAME = 'truenas_default';
const MARKER = 'default_certificate_created';
/** The certificate the daemon's own web UI presents (TrueNAS's `ui_certificate`). */
const UI_CERTIFICATE = 'ui_certificate';
const DAY_MS = 86_400_000;
/** TrueNAS renews its default certificate when fewer than this many days remain. */
const RENEW_BEFORE_DAYS = 5;
const DEFAULT_ORGANIZATION = 'certmid';

export interface SettingRow {
  key: string;
  value: string;
}

/** Small daemon-wide facts, such as first-start steps already done. */
export const SettingEntity = new EntitySchema<SettingRow>({
  name: 'setting',
  tableName: 'setting',
  columns: { key: { type: 'varchar', length: 128, primary: true }, value: { type: 'text' } },
});

/** A certificate and key for the daemon's own HTTPS. */
interface UiCertificate {
  key: KeyObject;
  certificate: string;
  details: StoredDetails;
}

/**
 * A self-signed certificate as TrueNAS makes its default one: RSA 2048, SHA-256, 397 days, CN and SAN localhost,
 * serverAuth only. Deliberate differences: the organization is certmid, not iXsystems (we do not
 * speak in its name), and a SubjectKeyIdentifier is added (it costs nothing and helps path building).
 */
async function selfSignedUiCertificate(now: Date): Promise<UiCertificate> {
  const key = await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 });
  const extensions = defaultExtensions();
  extensions.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH'], extension_critical: false };
  const certificate = await issueCertificate({
    subject: { country: 'US', organization: DEFAULT_ORGANIZATION, common: 'localhost' },
    san: [{ type: 'DNS', value: 'localhost' }],
    publicKey: createPublicKey(key),
    signer: { privateKey: key, certificatePem: null },
    serial: BigInt(randomInt(1000, 2 ** 30)),
    notBefore: now,
    notAfter: new Date(now.getTime() + 397 * DAY_MS),
    digest: 'SHA256',
    extensions,
  });
  return { key, certificate, details: certificateDetails(certificate, key) };
}

/** The stored columns of a UI certificate. */
function uiCertificateColumns(app: App, made: UiCertificate) {
  return {
    certificate: made.certificate,
    privatekey: sealKey(app, made.key),
    ...detailColumns(made.details),
  };
}

/**
 * Creates the self-signed certificate for the daemon's own HTTPS once, stored as an imported
 * certificate. Deleting it later does not bring it back.
 */
export async function ensureDefaultCertificate(app: App): Promise<void> {
  const settings = app.db.getRepository(SettingEntity);
  if (await settings.existsBy({ key: MARKER })) return;
  const now = new Date();
  const made = await selfSignedUiCertificate(now);
  await withChanges(app, async (manager, changes) => {
    if (await manager.getRepository(SettingEntity).existsBy({ key: MARKER })) return;
    const name = (await manager.getRepository(CertificateEntity).existsBy({ name: DEFAULT_CERTIFICATE_NAME })) ? `${DEFAULT_CERTIFICATE_NAME}_1` : DEFAULT_CERTIFICATE_NAME;
    const result = await manager.getRepository(CertificateEntity).insert({
      type: CERT_TYPE_EXISTING,
      name,
      ...uiCertificateColumns(app, made),
      CSR: null,
      signedby_id: null,
      add_to_trusted_store: false,
      created_at: now,
    } as never);
    const id = String(result.identifiers[0]!.id);
    await manager.getRepository(SettingEntity).insert([
      { key: MARKER, value: id },
      { key: UI_CERTIFICATE, value: id },
    ]);
    changes.added('certificate', Number(result.identifiers[0]!.id));
  });
  app.logger.info('default self-signed certificate created');
}

/**
 * Renews the default certificate in place (same id and name, new key) when fewer than five days
 * remain, as TrueNAS's renew_certs does. It is recognised as TrueNAS does: the certificate made at
 * first start, still self-signed for localhost alone. Returns its id when renewed.
 */
export async function renewDefaultCertificate(app: App, now = new Date()): Promise<number | null> {
  // `now` decides whether it is due; the new certificate is always valid from the real present.
  const marker = await app.db.getRepository(SettingEntity).findOneBy({ key: MARKER });
  const row = marker ? await app.db.getRepository(CertificateEntity).findOneBy({ id: Number(marker.value) }) : null;
  if (!row || !isDefaultShape(row.type, row.signedby_id, row.details)) return null;
  const notAfter = row.not_after;
  if (notAfter && notAfter.getTime() - now.getTime() >= RENEW_BEFORE_DAYS * DAY_MS) return null;
  const made = await selfSignedUiCertificate(new Date());
  await withChanges(app, async (manager, changes) => {
    // Kept until HTTPS presents the new one, like any renewal's replaced version.
    await keepPreviousVersion(manager, row, new Date());
    await manager.getRepository(CertificateEntity).update({ id: row.id }, uiCertificateColumns(app, made) as never);
    changes.changed('certificate', row.id);
  });
  app.logger.info({ certificate: row.id }, 'default self-signed certificate renewed');
  return row.id;
}

function isDefaultShape(type: number, signedby: number | null, details: StoredDetails): boolean {
  return type === CERT_TYPE_EXISTING && signedby === null && details.organization === DEFAULT_ORGANIZATION && JSON.stringify(details.san) === '["DNS:localhost"]';
}

/** The id of the certificate the daemon's own HTTPS presents, or null. */
export async function uiCertificateId(app: App, manager: EntityManager = app.db.manager): Promise<number | null> {
  // Fixed SQL: every certificate entry asks (its `used_by`), and building the query cost more than running it.
  const [ui] = await selectRows(manager, SettingEntity, '"key" = ?', [UI_CERTIFICATE], ['value']);
  return ui ? Number(ui.value) : null;
}

/** Makes `id` the certificate the daemon's own HTTPS presents (`system.general.update`'s `ui_certificate`). */
export async function setUiCertificateId(manager: EntityManager, id: number): Promise<void> {
  await manager.getRepository(SettingEntity).upsert({ key: UI_CERTIFICATE, value: String(id) }, ['key']);
}

/** The web UI certificate (with its chain) and key, for the daemon's own HTTPS; null if none is set. `id` as just read by `uiCertificateId`. */
export async function uiTlsMaterial(app: App, known?: { id: number | null }): Promise<{ cert: string; key: string } | null> {
  const id = known ? known.id : await uiCertificateId(app);
  const row = id === null ? null : await app.db.getRepository(CertificateEntity).findOneBy({ id });
  if (!row?.certificate || !row.privatekey) return null;
  return { cert: row.certificate, key: app.secrets.decrypt(row.privatekey) };
}
