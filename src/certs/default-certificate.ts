import { createPublicKey, randomInt } from 'node:crypto';
import { EntitySchema } from 'typeorm';
import type { App } from '../app.js';
import { issueCertificate } from '../crypto/certificates.js';
import { defaultExtensions } from '../crypto/extensions.js';
import { generatePrivateKey } from '../crypto/keys.js';
import { withChanges } from '../db/entity-events.js';
import { certificateDetails } from './details.js';
import { CERT_TYPE_EXISTING, CertificateEntity } from './entities.js';
import { sealKey } from './store.js';

/** TrueNAS's name, so clients that look for the default certificate find it. */
export const DEFAULT_CERTIFICATE_NAME = 'truenas_default';
const MARKER = 'default_certificate_created';
/** The certificate the daemon's own web UI presents (TrueNAS's `ui_certificate`). */
const UI_CERTIFICATE = 'ui_certificate';
const DAY_MS = 86_400_000;

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

/**
 * Creates the self-signed certificate for the daemon's own HTTPS once (§7.6: RSA 2048, SHA-256,
 * 397 days, CN and SAN localhost, serverAuth), stored as an imported certificate. Deleting it
 * later does not bring it back.
 */
export async function ensureDefaultCertificate(app: App): Promise<void> {
  const settings = app.db.getRepository(SettingEntity);
  if (await settings.existsBy({ key: MARKER })) return;
  const key = await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 });
  const now = new Date();
  const extensions = defaultExtensions();
  extensions.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH'], extension_critical: false };
  const certificate = await issueCertificate({
    subject: { country: 'US', organization: 'certmid', common: 'localhost' },
    san: [{ type: 'DNS', value: 'localhost' }],
    publicKey: createPublicKey(key),
    signer: { privateKey: key, certificatePem: null },
    serial: BigInt(randomInt(1000, 2 ** 30)),
    notBefore: now,
    notAfter: new Date(now.getTime() + 397 * DAY_MS),
    digest: 'SHA256',
    extensions,
  });
  const details = certificateDetails(certificate, key);
  await withChanges(app, async (manager, changes) => {
    if (await manager.getRepository(SettingEntity).existsBy({ key: MARKER })) return;
    const name = (await manager.getRepository(CertificateEntity).existsBy({ name: DEFAULT_CERTIFICATE_NAME })) ? `${DEFAULT_CERTIFICATE_NAME}_1` : DEFAULT_CERTIFICATE_NAME;
    const result = await manager.getRepository(CertificateEntity).insert({
      type: CERT_TYPE_EXISTING,
      name,
      certificate,
      privatekey: sealKey(app, key),
      CSR: null,
      signedby_id: null,
      add_to_trusted_store: false,
      details,
      serial: details.serial,
      not_after: details.not_after === null ? null : new Date(details.not_after),
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

/** The services that use a certificate, by TrueNAS's names ("UI Service"); deleting it is refused while any do. */
export async function servicesUsing(app: App, certificateId: number): Promise<string[]> {
  const ui = await app.db.getRepository(SettingEntity).findOneBy({ key: UI_CERTIFICATE });
  return ui && Number(ui.value) === certificateId ? ['UI Service'] : [];
}

/** The web UI certificate (with its chain) and key, for the daemon's own HTTPS; null if none is set. */
export async function uiTlsMaterial(app: App): Promise<{ cert: string; key: string } | null> {
  const ui = await app.db.getRepository(SettingEntity).findOneBy({ key: UI_CERTIFICATE });
  const row = ui ? await app.db.getRepository(CertificateEntity).findOneBy({ id: Number(ui.value) }) : null;
  if (!row?.certificate || !row.privatekey) return null;
  return { cert: row.certificate, key: app.secrets.decrypt(row.privatekey) };
}
