import type { App } from '../app.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import type { EntityManager } from 'typeorm';
import { SettingEntity, uiCertificateId, uiTlsMaterial } from '../certs/default-certificate.js';
import { parseCertificate } from '../crypto/certificates.js';
import { hexSerial, refreshSuperseded } from '../certs/versions.js';
import type { TlsMaterial } from '../rpc/transport-policy.js';
import type { RpcServer } from '../rpc/ws-server.js';
import { httpsSettings, SETTINGS_EVENT } from './settings.js';

/** The daemon's own HTTPS, kept as the settings and the UI certificate say. */
export interface UiHttps {
  /** Applies the current settings and certificate (also done on every change); resolves once applied. */
  refresh(): Promise<void>;
  stop(): void;
}

/** Each daemon's server and its HTTPS keeper; workers serve nothing and have none. */
const daemons = new WeakMap<App, { server: RpcServer; https: UiHttps }>();

/** The ports this daemon listens on (PORT=0 and HTTPS_PORT=0 pick them at start); null in a worker. */
export function listeningPorts(app: App): { http: number; https: number | null } | null {
  const daemon = daemons.get(app);
  return daemon ? { http: daemon.server.port, https: daemon.server.httpsPort } : null;
}

/** Applies changed settings on this daemon now, so the caller that changed them finds them in effect. */
export async function applyUiSettings(app: App): Promise<void> {
  await daemons.get(app)?.https.refresh();
}

/** The setting that records what the daemons' HTTPS presents: `{"certificate": id, "serial": hex}`. */
export const PRESENTED_SETTING = 'ui_https_presented';

/** What HTTPS presents, as recorded: the UI certificate's id and the serial (openssl's hex) served, null when HTTPS is off. */
export interface Presented {
  certificate: number | null;
  serial: string | null;
}

/** What the daemons' HTTPS last presented, or null when no daemon has recorded it. */
export async function presentedUiCertificate(manager: EntityManager): Promise<Presented | null> {
  const row = await manager.getRepository(SettingEntity).findOneBy({ key: PRESENTED_SETTING });
  return row ? (JSON.parse(row.value) as Presented) : null;
}

/**
 * Records what this daemon's HTTPS presents, and lets the certificate's replaced versions count as
 * superseded once it presents the new one. Daemons sharing a database apply the same certificate
 * on the same event, so the last one to record it speaks for all.
 */
async function recordPresented(app: App, material: TlsMaterial | null, certificate: number | null): Promise<void> {
  const decimal = material ? parseCertificate(material.cert).serial : null;
  const serial = decimal ? hexSerial(decimal) : null;
  const value = JSON.stringify({ certificate, serial } satisfies Presented);
  const settings = app.db.getRepository(SettingEntity);
  if ((await settings.findOneBy({ key: PRESENTED_SETTING }))?.value === value) return;
  await settings.upsert({ key: PRESENTED_SETTING, value }, ['key']);
  if (certificate !== null) await refreshSuperseded(app, certificate);
}

/** What a TLS context is made of, as one string, to tell whether anything changed. */
const fingerprint = (material: TlsMaterial) => JSON.stringify([material.cert, material.key, material.protocols]);

/**
 * Serves HTTPS and WSS with the UI certificate as the settings say, and keeps doing so: a renewed
 * or another UI certificate, other TLS versions, another port or redirect take effect for new
 * connections at once, on this daemon and (through the event bus) every other; open connections
 * stay. At start a port from HTTPS_PORT must open (and HTTPS_ONLY needs a certificate), else the
 * daemon does not start; a port chosen through the API that cannot open is logged instead, so the
 * administrator can still reach the daemon over plain HTTP to fix it.
 */
export async function startUiHttps(app: App, server: RpcServer): Promise<UiHttps> {
  let presented: string | null = null;
  let presentedMaterial: TlsMaterial | null = null;
  let stopped = false;
  /** The UI certificate's id as the last apply read it; undefined before the first. */
  let uiCertificate: number | null | undefined;

  const apply = async (starting: boolean) => {
    const settings = await httpsSettings(app);
    const id = await uiCertificateId(app);
    uiCertificate = id;
    const stored = settings.port === null ? null : await uiTlsMaterial(app, { id });
    const material = stored && { ...stored, protocols: settings.protocols };
    if (settings.port === null) {
      if (server.httpsPort !== null) app.logger.info({ port: server.httpsPort }, 'HTTPS stopped: no HTTPS port is set');
      server.stopTls();
      presented = null;
      presentedMaterial = null;
    } else if (!material) {
      if (starting && settings.fromEnvironment && settings.redirect) throw new Error('HTTPS_ONLY is set but there is no UI certificate to serve HTTPS with');
      if (server.httpsPort === null) app.logger.warn('an HTTPS port is set but there is no UI certificate; serving plain HTTP only');
    } else if (server.httpsPort === null || (!settings.fromEnvironment && server.httpsPort !== settings.port)) {
      await listen(material, settings.port, starting && settings.fromEnvironment);
    } else if (fingerprint(material) !== presented) {
      server.reloadTls(material);
      presented = fingerprint(material);
      presentedMaterial = material;
      app.logger.info('HTTPS presents the UI certificate anew');
    }
    server.setHttpsOnly(settings.redirect);
    // Bookkeeping only: HTTPS itself is applied whether or not it can be recorded.
    await recordPresented(app, server.httpsPort === null ? null : presentedMaterial, id).catch((error: unknown) =>
      app.logger.error({ err: error }, 'could not record which certificate HTTPS presents'),
    );
  };

  const listen = async (material: TlsMaterial, port: number, mustOpen: boolean) => {
    try {
      const opened = await server.listenTls(material, port);
      presented = fingerprint(material);
      presentedMaterial = material;
      app.logger.info({ port: opened }, 'HTTPS listening');
    } catch (error) {
      if (mustOpen) throw error;
      app.logger.error({ err: error, port }, 'HTTPS cannot listen on the port set; serving plain HTTP only');
    }
  };

  // One apply at a time; changes that arrive meanwhile are applied once more afterwards.
  let running: Promise<void> = apply(true);
  await running;
  let again = false;
  const refresh = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (again) return running;
    again = true;
    running = running
      .catch(() => undefined)
      .then(() => {
        again = false;
        return stopped ? undefined : apply(false);
      })
      .catch((error: unknown) => app.logger.error({ err: error }, 'could not apply the HTTPS settings'));
    return running;
  };
  // Any change of a certificate may be the UI certificate's (a renewal, a restore). One added becomes
  // it only through system.general.update, which says so, or as the first one, made at first start.
  const mayConcernUi = (update: CollectionUpdate) =>
    update.msg !== 'added' || uiCertificate === undefined || uiCertificate === null || update.id === undefined || update.id === uiCertificate;
  app.events.onUpdate((update) => {
    if ((update.collection === 'certificate.query' && mayConcernUi(update)) || update.collection === SETTINGS_EVENT) void refresh();
  });
  const https: UiHttps = {
    refresh,
    stop() {
      stopped = true;
      daemons.delete(app);
    },
  };
  daemons.set(app, { server, https });
  return https;
}
