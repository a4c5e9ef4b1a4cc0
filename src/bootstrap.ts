import 'reflect-metadata';
import dns from 'node:dns';
import type { JobBackend } from '../jobs/job-backend.js';
import { JobManager } from '../jobs/job-manager.js';
import { InProcessBackend } from '../jobs/in-process-backend.js';
import { MIGRATIONS } from '../migrations/index.js';
import type { PluginDefinition } from './api/define-plugin.js';
import { Registry } from './api/registry.js';
import type { App } from './app.js';
import type { Config } from './config.js';
import { listeningUrl } from './public-url.js';
import { openDataSource } from './db/data-source.js';
import { LocalEventBus, RedisEventBus } from './events/event-bus.js';
import type { Logger } from './logger.js';
import { SessionRegistry } from './rpc/session.js';
import { SecretBox } from './secrets.js';

/**
 * Builds the services shared by the daemon and the workers: registry, database (migrated),
 * secrets, event bus and job manager. Nothing is listening yet.
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
    return { config, logger, db, registry, events, secrets, jobs: new JobManager(backend), sessions: new SessionRegistry(), publicUrl };
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
