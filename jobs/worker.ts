import { PLUGINS } from '../plugins/index.js';
import { runWorkerProcess } from '../src/worker-main.js';

/** `npm run worker`: runs jobs from the BullMQ queue at REDIS_URL until SIGTERM or SIGINT. */
await runWorkerProcess(PLUGINS);
