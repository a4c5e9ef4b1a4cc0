import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CertmidClient } from '../../src/client/client.js';
import { adminClient } from './pki-client.js';
import { startTestServer, type TestServer } from './server.js';
import { createTestDatabase, dropQueuePrefix, REDIS_URL, uniquePrefix } from './services.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';

/** Two daemons on one PostgreSQL database, an administrator's session on each, and a job worker when asked. */
export interface SharedDaemons {
  database: Awaited<ReturnType<typeof createTestDatabase>>;
  one: TestServer;
  two: TestServer;
  near: CertmidClient;
  far: CertmidClient;
  /** Stops all of it and removes the database, the queue's keys and the worker's folder. */
  stop(): Promise<void>;
}

/**
 * Starts two daemons on a fresh PostgreSQL database, one after the other (the first creates the
 * schema and the administrator). With `worker`, jobs go through Redis to a worker process of
 * their own, as in a deployment of several daemons.
 */
export async function startSharedDaemons(options: { adminPassword: string; masterKeyFill: number; worker?: boolean }): Promise<SharedDaemons> {
  const database = await createTestDatabase();
  const prefix = uniquePrefix();
  const env: Record<string, string> = { DATABASE_URL: database.url, MASTER_KEY: Buffer.alloc(32, options.masterKeyFill).toString('base64'), ADMIN_PASSWORD: options.adminPassword };
  if (options.worker) Object.assign(env, { REDIS_URL, QUEUE_PREFIX: prefix });
  const one = await startTestServer({ env });
  const two = await startTestServer({ env });
  const scratch = options.worker ? fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-shared-')) : null;
  const worker: WorkerProcess | null = scratch ? await spawnWorker({ ...env, DATA_DIR: scratch, CERTIFICATES_DIR: path.join(scratch, 'certificates') }) : null;
  const near = await adminClient(one);
  const far = await adminClient(two);
  return {
    database,
    one,
    two,
    near,
    far,
    async stop() {
      await near.close();
      await far.close();
      await worker?.stop();
      await one.close();
      await two.close();
      await database.drop();
      if (options.worker) await dropQueuePrefix(prefix);
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}
