import { loadConfig } from '../../src/config.js';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/logger.js';
import { stopOnSignals } from '../../src/signals.js';
import { testPlugin } from './test-plugin.js';

/**
 * The daemon as its own process, with the test-only methods, configured from the environment like
 * `npm start`: for tests that kill it. Run as `node --import tsx test/helpers/test-daemon.ts`.
 */
const config = loadConfig();
const logger = createLogger(config.logLevel);
// Handlers first, as in src/main.ts: tests send SIGTERM as soon as the daemon says it listens.
const starting = startDaemon(config, logger, { extraPlugins: [testPlugin] });
stopOnSignals(logger, async () => (await starting).stop());
await starting;
