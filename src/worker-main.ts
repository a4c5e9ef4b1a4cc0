import type { WorkerOptions } from '../jobs/bullmq-worker.js';
import type { PluginDefinition } from './api/define-plugin.js';
import { startWorkerApp } from './bootstrap.js';
import { loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { stopOnSignals } from './signals.js';

/**
 * `npm run worker` and the test worker: configuration from the environment, a clean exit on
 * SIGTERM/SIGINT, exit code 1 when it cannot start.
 */
export async function runWorkerProcess(plugins: readonly PluginDefinition[], options: WorkerOptions = {}): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`certmid worker: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (!config.redisUrl) {
    process.stderr.write('certmid worker: REDIS_URL is not set; workers take their jobs from Redis (e.g. REDIS_URL=redis://127.0.0.1:6379)\n');
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  // Handlers first, so that a SIGTERM right after "certmid worker is running" stops it gracefully.
  const starting = startWorkerApp(config, logger, plugins, options);
  stopOnSignals(logger, async () => (await starting).close());
  try {
    await starting;
  } catch (error) {
    logger.fatal({ err: error }, 'certmid worker failed to start');
    process.exit(1);
  }
}
