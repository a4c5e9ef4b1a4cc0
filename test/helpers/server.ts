import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/logger.js';
import { testPlugin } from './test-plugin.js';

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  admin: { username: string; password: string };
  daemon: Daemon;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Extra environment, e.g. DATABASE_URL or REDIS_URL. */
  env?: Record<string, string>;
  /** Reuse a data directory (to test restarts); a fresh temporary one otherwise. */
  dataDir?: string;
  /** Collects every log line (JSON text) the daemon writes, at debug level. */
  logLines?: string[];
}

/** The real daemon on a free loopback port with a throwaway data directory and the test-only methods. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-test-'));
  // Never starting with '-', which a command line would take for an option.
  const password = options.env?.ADMIN_PASSWORD ?? `p${randomBytes(12).toString('base64url')}`;
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: password,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const lines = options.logLines;
  const logger = lines ? createLogger('debug', { write: (line: string) => void lines.push(line) }) : createLogger(config.logLevel);
  const daemon = await startDaemon(config, logger, { extraPlugins: [testPlugin] });
  return {
    url: daemon.url,
    port: daemon.port,
    dataDir,
    admin: { username: 'admin', password },
    daemon,
    async close() {
      await daemon.stop(1000);
      if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
