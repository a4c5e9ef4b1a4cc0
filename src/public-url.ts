import os from 'node:os';
import type { App } from './app.js';
import { SettingEntity } from './certs/default-certificate.js';

const PUBLIC_URL_SETTING = 'public_url';

/**
 * The base URL where a process listens. A wildcard address names no reachable host, so the
 * machine's host name stands in for it.
 */
export function listeningUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? os.hostname() : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/** Records the daemon's base URL, so that workers, which do not listen, name the same CRL and CA links. */
export async function recordPublicUrl(app: App): Promise<void> {
  await app.db.getRepository(SettingEntity).upsert({ key: PUBLIC_URL_SETTING, value: app.publicUrl }, ['key']);
}

/** Before a worker runs a job: takes the base URL a daemon recorded, unless PUBLIC_URL fixes it. */
export async function adoptRecordedPublicUrl(app: App): Promise<void> {
  if (app.config.publicUrl) return;
  const recorded = await app.db.getRepository(SettingEntity).findOneBy({ key: PUBLIC_URL_SETTING });
  if (recorded) app.publicUrl = recorded.value;
}
