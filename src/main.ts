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
// The signal handlers come first: a SIGTERM right after "certmid is listening" (or during the
// start) stops the daemon gracefully instead of killing it outright.
const starting = startDaemon(config, logger);
stopOnSignals(logger, async () => (await starting).stop());
try {
  await starting;
} catch (error) {
  logger.fatal({ err: error }, 'certmid failed to start');
  process.exit(1);
}
