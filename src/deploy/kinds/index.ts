import type { DeployKind } from '../kind.js';
import { localKind } from './local.js';
import { sshKind } from './ssh.js';
import { truenasKind } from './truenas.js';
import { webhookKind } from './webhook.js';

/** Every kind of deploy target, in the order the page offers them; one line per kind. */
export const DEPLOY_KINDS: readonly DeployKind[] = [localKind, webhookKind, sshKind, truenasKind];

/** The kind with wire value `key`, or undefined. */
export function deployKindFor(key: string): DeployKind | undefined {
  return DEPLOY_KINDS.find((kind) => kind.key === key);
}
