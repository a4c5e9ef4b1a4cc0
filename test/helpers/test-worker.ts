import { PLUGINS } from '../../plugins/index.js';
import { runWorkerProcess } from '../../src/worker-main.js';
import { testPlugin } from './test-plugin.js';

/**
 * A worker process for tests: the product's plugins plus the test-only methods, with times short
 * enough that a killed worker's job is found stalled within a few seconds.
 * Run as `node --import tsx test/helpers/test-worker.ts` with REDIS_URL, QUEUE_PREFIX and DATA_DIR.
 */
await runWorkerProcess([...PLUGINS, testPlugin], {
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
  jobLockTtlMs: 3000,
  lockRetryDelayMs: 100,
});
