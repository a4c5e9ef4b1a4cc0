import type { DataSource } from 'typeorm';
import type { Jobs } from './api/jobs.js';
import type { Registry } from './api/registry.js';
import type { Config } from './config.js';
import type { EventBus } from './events/event-bus.js';
import type { Logger } from './logger.js';
import type { SessionRegistry } from './rpc/session.js';
import type { SecretBox } from './secrets.js';

/** The services a handler reaches through its context; built once per process. */
export interface App {
  config: Readonly<Config>;
  logger: Logger;
  db: DataSource;
  registry: Registry;
  events: EventBus;
  secrets: SecretBox;
  jobs: Jobs;
  /** The daemon's WebSocket sessions; empty in a worker process. */
  sessions: SessionRegistry;
  /** Base URL for CRL and CA-certificate links: PUBLIC_URL, else where the daemon listens. */
  publicUrl: string;
}
