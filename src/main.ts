import { loadConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { createLogger } from './logger.js';

/** `npm start`: the daemon with its configuration from the environment. */
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}
const logger = createLogger(config.logLevel);
try {
  const daemon = await startDaemon(config, logger);
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    daemon.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  logger.fatal({ err: error }, 'certmid failed to start');
  process.exit(1);
}
