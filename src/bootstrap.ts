import 'reflect-metadata';
import dns from 'node:dns';
import type { JobBackend } from '../jobs/job-backend.js';
import { JobManager } from '../jobs/job-manager.js';
import { InProcessBackend } from '../jobs/in-process-backend.js';
import type { RunningWorker, WorkerOptions } from '../jobs/bullmq-worker.js';
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
  const db = await openDataSource(config, plugins.flatMap((p) => p.entities ?? []), MIGRATIONS);
  try {
    const events = config.redisUrl ? await RedisEventBus.connect(config.redisUrl, config.queuePrefix) : new LocalEventBus();
    const backend = await createJobBackend(config);
    const publicUrl = config.publicUrl ?? listeningUrl(config.host, config.port);
    const app: Omit<App, 'jobs'> & { jobs?: App['jobs'] } = { config, logger, db, registry, events, secrets, sessions: new SessionRegistry(), publicUrl };
    app.jobs = new JobManager({ methods: jobMethodsOf(app as App), secrets, logger }, backend);
    return app as App;
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/** BullMQ when REDIS_URL is set (loaded only then, so the embedded default never touches Redis). */
async function createJobBackend(config: Readonly<Config>): Promise<JobBackend> {
  if (!config.redisUrl) return new InProcessBackend();
  const { BullmqBackend } = await import('../jobs/bullmq-backend.js');
  return new BullmqBackend(config.redisUrl, config.queuePrefix);
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
  const worker = await startWorker({ methods, secrets: app.secrets, logger, redisUrl: config.redisUrl, queuePrefix: config.queuePrefix }, options);
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
