import { PLUGINS } from '../plugins/index.js';
import { scheduleRenewals } from './acme/renewal-schedule.js';
import type { PluginDefinition } from './api/define-plugin.js';
import type { App } from './app.js';
import { ensureAdminUser } from './auth/credentials.js';
import { createApp } from './bootstrap.js';
import { holdCryptoPool } from './crypto/crypto-pool.js';
import type { Config } from './config.js';
import { startSubscriptionHub } from './events/subscription-hub.js';
import type { Logger } from './logger.js';
import { startRpcServer, type HttpRoute, type RpcServer } from './rpc/ws-server.js';
import { uiCertificateId, uiTlsMaterial } from './certs/default-certificate.js';
import { startCertificateFiles } from './certs/files/certificate-files.js';
import { listeningUrl, recordPublicUrl } from './public-url.js';

export interface Daemon {
  app: App;
  port: number;
  url: string;
  /** The HTTPS/WSS port when HTTPS_PORT is set and a UI certificate exists. */
  httpsPort: number | null;
  /** Graceful stop: no new connections, running jobs get `graceMs` to finish, then the database closes. */
  stop(graceMs?: number): Promise<void>;
}

export interface DaemonOptions {
  /** Plugins beyond the product's own (tests add test-only methods this way). */
  extraPlugins?: readonly PluginDefinition[];
  routes?: readonly HttpRoute[];
}

/** Serves HTTPS and WSS with the web UI certificate (made on first start) when HTTPS_PORT is set. */
async function listenHttps(app: App, server: RpcServer): Promise<number | null> {
  if (app.config.httpsPort === undefined) return null;
  const tls = await uiTlsMaterial(app);
  if (!tls) {
    // HTTPS_ONLY without HTTPS would leave nothing but redirects to nowhere.
    if (app.config.httpsOnly) throw new Error('HTTPS_ONLY is set but there is no UI certificate to serve HTTPS with');
    app.logger.warn('HTTPS_PORT is set but there is no UI certificate; serving plain HTTP only');
    return null;
  }
  const port = await server.listenTls(tls, app.config.httpsPort);
  // A renewed or replaced UI certificate is presented from the next connection on.
  app.events.onUpdate((update) => {
    if (update.collection !== 'certificate.query' || update.msg !== 'changed') return;
    void reloadUiCertificate(app, server, Number(update.id)).catch((error: unknown) => app.logger.error({ err: error }, 'could not reload the UI certificate'));
  });
  return port;
}

async function reloadUiCertificate(app: App, server: RpcServer, changedId: number): Promise<void> {
  if ((await uiCertificateId(app)) !== changedId) return;
  const material = await uiTlsMaterial(app);
  if (material) server.reloadTls(material);
}

/** Starts the daemon: database, first-start records, jobs, then the HTTP and WebSocket server. */
export async function startDaemon(config: Readonly<Config>, logger: Logger, options: DaemonOptions = {}): Promise<Daemon> {
  const app = await createApp(config, logger, [...PLUGINS, ...(options.extraPlugins ?? [])]);
  const releaseCryptoPool = holdCryptoPool();
  await ensureAdminUser(app);
  await app.jobs.start();
  startSubscriptionHub(app);
  const server = await startRpcServer(app, [...app.registry.plugins.flatMap((p) => p.routes?.(app) ?? []), ...(options.routes ?? [])]);
  // With PORT=0 the port is known only now; links in certificates must name the real one.
  if (!config.publicUrl) app.publicUrl = listeningUrl(config.host, server.port);
  await recordPublicUrl(app);
  const stopPlugins: Array<() => void> = [];
  for (const plugin of app.registry.plugins) {
    const stop = await plugin.setup?.(app);
    if (stop) stopPlugins.push(stop);
  }
  const httpsPort = await listenHttps(app, server);
  // This host's certificate files and trusted store follow the database (workers never write them).
  const certificateFiles = startCertificateFiles(app);
  // ACME renewal now and daily: a timer here (in-process jobs) or a BullMQ job scheduler shared by all daemons.
  const stopRenewals = await scheduleRenewals(app);
  logger.info({ url: server.url, httpsPort, jobs: app.jobs.backendName, database: config.databaseUrl ? 'postgres' : 'sqlite' }, 'certmid is listening');
  let stopping: Promise<void> | undefined;
  return {
    app,
    port: server.port,
    url: server.url,
    httpsPort,
    stop(graceMs) {
      stopping ??= (async () => {
        stopRenewals();
        stopPlugins.forEach((stop) => stop());
        await server.close();
        await app.jobs.close(graceMs);
        await certificateFiles?.stop();
        await releaseCryptoPool();
        await app.events.close();
        await app.db.destroy();
        logger.info('certmid stopped');
      })();
      return stopping;
    },
  };
}
