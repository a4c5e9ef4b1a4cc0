import type { DeployKind } from '../kind.js';
import { localKind } from './local.js';
import { webhookKind } from './webhook.js';

/** Every kind of deploy target, in the order the page offers them; one line per kind. */
export const DEPLOY_KINDS: readonly DeployKind[] = [localKind, webhookKind];

/** The kind with wire value `key`, or undefined. */
export function deployKindFor(key: string): DeployKind | undefined {
  return DEPLOY_KINDS.find((kind) => kind.key === key);
}
