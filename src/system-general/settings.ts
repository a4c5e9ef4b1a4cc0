import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { SettingEntity } from '../certs/default-certificate.js';
import { TLS_PROTOCOLS, type TlsProtocol } from '../rpc/transport-policy.js';

/** The row of the `setting` table that holds them (the UI certificate has its own, `ui_certificate`). */
const SETTINGS_KEY = 'system_general';
/**
 * Sent on the event bus when they change, so every daemon applies them; no client can subscribe to
 * it (TrueNAS has no such event).
 */
export const SETTINGS_EVENT = 'system.general.config';

/**
 * What `system.general.update` stores besides the UI certificate. Those with no meaning here
 * (addresses, allow list, console messages, frame options, keyboard, usage collection) are kept
 * only so that TrueNAS clients read back what they wrote.
 */
export interface StoredSettings {
  /** Null: no HTTPS (unless HTTPS_PORT says otherwise). */
  ui_httpsport: number | null;
  ui_httpsredirect: boolean;
  ui_httpsprotocols: TlsProtocol[];
  ui_address: string[];
  ui_v6address: string[];
  ui_allowlist: string[];
  ui_consolemsg: boolean;
  ui_x_frame_options: 'SAMEORIGIN' | 'DENY' | 'ALLOW_ALL';
  kbdmap: string;
  usage_collection: boolean | null;
  ds_auth: boolean;
}

/** TrueNAS's defaults, but HTTPS off until a port is chosen (a fixed default port would collide) and only the TLS versions served. */
export const DEFAULT_SETTINGS: Readonly<StoredSettings> = Object.freeze({
  ui_httpsport: null,
  ui_httpsredirect: false,
  ui_httpsprotocols: [...TLS_PROTOCOLS],
  ui_address: ['0.0.0.0'],
  ui_v6address: ['::'],
  ui_allowlist: [],
  ui_consolemsg: true,
  ui_x_frame_options: 'SAMEORIGIN',
  kbdmap: 'us',
  usage_collection: null,
  ds_auth: false,
});

/** The stored settings, each missing or unreadable one at its default. */
export async function readStoredSettings(app: App, manager: EntityManager = app.db.manager): Promise<StoredSettings> {
  const row = await manager.getRepository(SettingEntity).findOneBy({ key: SETTINGS_KEY });
  let stored: Partial<StoredSettings> = {};
  try {
    stored = row ? (JSON.parse(row.value) as Partial<StoredSettings>) : {};
  } catch {
    app.logger.warn('the stored system.general settings cannot be read; using the defaults');
  }
  const settings = { ...DEFAULT_SETTINGS, ...stored };
  return { ...settings, ui_httpsprotocols: settings.ui_httpsprotocols.filter((p) => (TLS_PROTOCOLS as readonly string[]).includes(p)) };
}

export async function writeStoredSettings(manager: EntityManager, settings: StoredSettings): Promise<void> {
  await manager.getRepository(SettingEntity).upsert({ key: SETTINGS_KEY, value: JSON.stringify(settings) }, ['key']);
}

/** The zone the daemon renders times in (the `from`/`until` strings): its environment's, `TZ`. */
export function processTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * How the daemon's HTTPS should be. With HTTPS_PORT in the environment the deployment owns the
 * listener: port and redirect come from HTTPS_PORT and HTTPS_ONLY. Otherwise they are the API's.
 * The certificate and the TLS versions are always the API's.
 */
export interface HttpsSettings {
  /** Null: no HTTPS. 0 (HTTPS_PORT=0): any free port. */
  port: number | null;
  redirect: boolean;
  protocols: TlsProtocol[];
  fromEnvironment: boolean;
}

export async function httpsSettings(app: App): Promise<HttpsSettings> {
  const stored = await readStoredSettings(app);
  const { config } = app;
  if (config.httpsPort !== undefined) return { port: config.httpsPort, redirect: config.httpsOnly, protocols: stored.ui_httpsprotocols, fromEnvironment: true };
  return { port: stored.ui_httpsport, redirect: stored.ui_httpsredirect, protocols: stored.ui_httpsprotocols, fromEnvironment: false };
}
