import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { transaction } from './transaction.js';

export type ChangeKind = CollectionUpdate['msg'];

/** Collects `<ns>.query` events during a transaction; they are sent only after it commits. */
export class ChangeSet {
  private readonly updates: CollectionUpdate[] = [];

  added(namespace: string, id: number): void {
    this.updates.push({ collection: `${namespace}.query`, msg: 'added', id });
  }

  changed(namespace: string, id: number): void {
    this.updates.push({ collection: `${namespace}.query`, msg: 'changed', id });
  }

  /** A CA's `changed` when only what it signed changed: see `CollectionUpdate.signedOnly`. */
  signedChanged(namespace: string, id: number): void {
    this.updates.push({ collection: `${namespace}.query`, msg: 'changed', id, signedOnly: true });
  }

  removed(namespace: string, id: number): void {
    this.updates.push({ collection: `${namespace}.query`, msg: 'removed', id });
  }

  /** Sends everything collected, in order. */
  async publish(app: App): Promise<void> {
    for (const update of this.updates.splice(0)) await app.events.publish(update);
  }
}

/**
 * Runs `work` in a transaction and, once it has committed, sends the entity events it recorded
 * (id only, as TrueNAS does). A rolled-back transaction sends nothing.
 */
export async function withChanges<T>(app: App, work: (manager: EntityManager, changes: ChangeSet) => Promise<T>): Promise<T> {
  const changes = new ChangeSet();
  const result = await transaction(app.db, (manager) => work(manager, changes));
  await changes.publish(app);
  return result;
}
