import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a TCP service answers; in CI a missing service fails the run instead of skipping. */
async function reachable(url: string, defaultPort: number, what: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const ok = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || defaultPort) });
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
  if (!ok && process.env.CI === 'true') throw new Error(`${what} at ${hostname} is required in CI but does not answer`);
  return ok;
}

export const postgresAvailable = () => reachable(POSTGRES_URL, 5432, 'PostgreSQL');
export const redisAvailable = () => reachable(REDIS_URL, 6379, 'Redis');

/** A fresh, empty PostgreSQL database for one test file; `drop` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `certmid_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The database one test file runs on, as environment for its daemon, and how to remove it. */
export interface TestDatabase {
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * SQLite and PostgreSQL as `describe.each` rows `[name, open, available]`: SQLite lives in the
 * daemon's data directory, PostgreSQL gets a fresh database (unavailable when it does not answer,
 * which fails the run in CI).
 */
export async function databaseBackends(): Promise<Array<[string, () => Promise<TestDatabase>, boolean]>> {
  const postgres = async (): Promise<TestDatabase> => {
    const database = await createTestDatabase();
    return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
  };
  return [
    ['SQLite', async () => ({ env: {}, drop: async () => undefined }), true],
    ['PostgreSQL', postgres, await postgresAvailable()],
  ];
}

/** A queue prefix no other test run uses. */
export function uniquePrefix(): string {
  return `certmid-test-${randomBytes(6).toString('hex')}`;
}

/** Removes a test run's BullMQ queue and every other Redis key under its prefix. */
export async function dropQueuePrefix(prefix: string): Promise<void> {
  const { Queue } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const { QUEUE_NAME, redisOptions } = await import('../../jobs/bullmq-backend.js');
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(REDIS_URL), prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}
