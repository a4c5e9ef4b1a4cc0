import 'reflect-metadata';
import dns from 'node:dns';
import type { RunningWorker, WorkerOptions } from '../jobs/bullmq-worker.js';
import type { JobEnvironment } from '../jobs/environment.js';
import { JOB_ENTITIES } from '../jobs/job-entity.js';
import { JobManager } from '../jobs/job-manager.js';
import { MIGRATIONS } from '../migrations/index.js';
import type { PluginDefinition } from './api/define-plugin.js';
import { jobMethodsOf } from './api/job-methods.js';
import { Registry } from './api/registry.js';
import type { App } from './app.js';
import type { Config } from './config.js';
import { holdCryptoPool } from './crypto/crypto-pool.js';
import { adoptRecordedPublicUrl, listeningUrl } from './public-url.js';
import { openDataSource } from './db/data-source.js';
import { LocalEventBus, RedisEventBus } from './events/event-bus.js';
import type { Logger } from './logger.js';
import { SessionRegistry } from './rpc/session.js';
import { SecretBox } from './secrets.js';

/**
 * Builds the services shared by the daemon and the workers: registry, database (migrated),
 * secrets, event bus and jobs. Nothing is listening yet. This is where the core and the job
 * runners (jobs/) meet: they know each other only through the interfaces of src/api/jobs.ts.
 */
export async function createApp(config: Readonly<Config>, logger: Logger, plugins: readonly PluginDefinition[]): Promise<App> {
  // ACME's zone and CNAME look-ups go through the process's resolvers.
  if (config.dnsResolvers) dns.setServers(config.dnsResolvers);
  const registry = new Registry().load(plugins);
  const secrets = SecretBox.open(config.dataDir, config.masterKey);
  const db = await openDataSource(config, [...plugins.flatMap((p) => p.entities ?? []), ...JOB_ENTITIES], MIGRATIONS);
  try {
    const events = config.redisUrl ? await RedisEventBus.connect(config.redisUrl, config.queuePrefix) : new LocalEventBus();
    const publicUrl = config.publicUrl ?? listeningUrl(config.host, config.port);
    const app: Omit<App, 'jobs'> & { jobs?: App['jobs'] } = { config, logger, db, registry, events, secrets, sessions: new SessionRegistry(), publicUrl };
    app.jobs = new JobManager(jobEnvironment(app as App, jobMethodsOf(app as App)));
    return app as App;
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/** What the job runners get from the core. BullMQ and the Redis feed only with REDIS_URL (loaded only then). */
function jobEnvironment(app: App, methods: JobEnvironment['methods']): JobEnvironment {
  const { config } = app;
  return {
    methods,
    db: app.db,
    secrets: app.secrets,
    logger: app.logger,
    redis: config.redisUrl ? { url: config.redisUrl, prefix: config.queuePrefix } : null,
    heartbeatMs: config.jobHeartbeatSeconds * 1000,
  };
}

/**
 * A BullMQ worker process's services: the App the daemon builds (database, secrets, event bus,
 * registry) running jobs from the queue at REDIS_URL, serving no clients. Closing it closes them all.
 */
export async function startWorkerApp(
  config: Readonly<Config>,
  logger: Logger,
  plugins: readonly PluginDefinition[],
  options: WorkerOptions = {},
): Promise<RunningWorker> {
  if (!config.redisUrl) throw new Error('A worker needs REDIS_URL');
  const app = await createApp(config, logger, plugins);
  const releaseCryptoPool = holdCryptoPool();
  // Certificates issued here must link to the daemon's CRLs, not to this process.
  const methods = jobMethodsOf(app, () => adoptRecordedPublicUrl(app));
  const { startWorker } = await import('../jobs/bullmq-worker.js');
  const worker = await startWorker(jobEnvironment(app, methods), options);
  return {
    async close(graceMs) {
      await worker.close(graceMs);
      await releaseCryptoPool();
      await app.events.close();
      await app.db.destroy();
      logger.info('certmid worker stopped');
    },
  };
}
