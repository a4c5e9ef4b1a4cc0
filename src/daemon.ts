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
import { startRpcServer, type HttpRoute } from './rpc/ws-server.js';
import { startCertificateFiles } from './certs/files/certificate-files.js';
import { listeningUrl, recordPublicUrl } from './public-url.js';
import { startUiHttps } from './system-general/ui-https.js';

export interface Daemon {
  app: App;
  port: number;
  url: string;
  /** The HTTPS/WSS port while HTTPS is served (HTTPS_PORT, or the port `system.general.update` set). */
  readonly httpsPort: number | null;
  /** Graceful stop: no new connections, running jobs get `graceMs` to finish, then the database closes. */
  stop(graceMs?: number): Promise<void>;
}

export interface DaemonOptions {
  /** Plugins beyond the product's own (tests add test-only methods this way). */
  extraPlugins?: readonly PluginDefinition[];
  routes?: readonly HttpRoute[];
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
  // HTTPS as HTTPS_PORT or system.general says, following later changes of either setting or certificate.
  const uiHttps = await startUiHttps(app, server);
  // This host's certificate files and trusted store follow the database (workers never write them).
  const certificateFiles = startCertificateFiles(app);
  // ACME renewal now and daily: a timer here (in-process jobs) or a BullMQ job scheduler shared by all daemons.
  const stopRenewals = await scheduleRenewals(app);
  logger.info({ url: server.url, httpsPort: server.httpsPort, jobs: app.jobs.backendName, database: config.databaseUrl ? 'postgres' : 'sqlite' }, 'certmid is listening');
  let stopping: Promise<void> | undefined;
  return {
    app,
    port: server.port,
    url: server.url,
    get httpsPort() {
      return server.httpsPort;
    },
    stop(graceMs) {
      stopping ??= (async () => {
        stopRenewals();
        stopPlugins.forEach((stop) => stop());
        uiHttps.stop();
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
