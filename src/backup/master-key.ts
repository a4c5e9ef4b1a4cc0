import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

/** The master key the daemon seals secrets with: MASTER_KEY, or the key file it made in DATA_DIR. */
export function currentMasterKey(config: Pick<Config, 'dataDir' | 'masterKey'>): Buffer {
  const encoded = config.masterKey ?? fs.readFileSync(path.join(config.dataDir, 'master.key'), 'utf8').trim();
  return Buffer.from(encoded, 'base64');
}

/** Whether the key lives only in DATA_DIR (so it is lost with it), rather than given through MASTER_KEY. */
export function masterKeyOnlyInDataDir(config: Pick<Config, 'masterKey'>): boolean {
  return config.masterKey === undefined;
}

/** A name for a master key that tells keys apart without revealing them. */
export function masterKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('certmid master key id').digest('hex').slice(0, 32);
}
