import { loadConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { createLogger } from './logger.js';
import { stopOnSignals } from './signals.js';

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
  stopOnSignals(logger, () => daemon.stop());
} catch (error) {
  logger.fatal({ err: error }, 'certmid failed to start');
  process.exit(1);
}
