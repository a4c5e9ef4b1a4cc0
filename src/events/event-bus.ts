import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/** A `collection_update` as it travels between processes, before it is sent to sessions. */
export interface CollectionUpdate {
  collection: string;
  msg: 'added' | 'changed' | 'removed';
  id: number | string;
  fields?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  /**
   * Not sent to sessions: on a CA's `changed`, only what it signed changed (a certificate added,
   * removed or renewed below it), not its own row nor which certificates below it are revoked.
   */
  signedOnly?: true;
}

/**
 * Entity-change events. Listeners in the publishing process hear an event before `publish`
 * returns; with Redis every other daemon and worker hears it through one channel too.
 */
export interface EventBus {
  publish(update: CollectionUpdate): Promise<void>;
  onUpdate(listener: (update: CollectionUpdate) => void): void;
  close(): Promise<void>;
}

export class LocalEventBus implements EventBus {
  private readonly emitter = new EventEmitter();

  async publish(update: CollectionUpdate): Promise<void> {
    this.emitter.emit('update', update);
  }

  onUpdate(listener: (update: CollectionUpdate) => void): void {
    this.emitter.on('update', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export class RedisEventBus implements EventBus {
  private readonly emitter = new EventEmitter();
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  /** Marks this process's messages, so its own echo from Redis is not delivered twice. */
  private readonly origin = randomUUID();

  private constructor(RedisClient: typeof Redis, url: string, prefix: string) {
    this.channel = `${prefix}:events`;
    this.publisher = new RedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.subscriber = new RedisClient(url, { lazyConnect: true });
  }

  static async connect(url: string, prefix: string): Promise<RedisEventBus> {
    // Loaded here, so a daemon without REDIS_URL never loads the Redis client.
    const { Redis: RedisClient } = await import('ioredis');
    const bus = new RedisEventBus(RedisClient, url, prefix);
    // Both reconnect by themselves while Redis is away; a publish that fails then is the caller's to report.
    bus.publisher.on('error', () => undefined);
    bus.subscriber.on('error', () => undefined);
    await Promise.all([bus.publisher.connect(), bus.subscriber.connect()]);
    bus.subscriber.on('message', (_channel: string, message: string) => {
      const { origin, update } = JSON.parse(message) as { origin: string; update: CollectionUpdate };
      if (origin !== bus.origin) bus.emitter.emit('update', update);
    });
    await bus.subscriber.subscribe(bus.channel);
    return bus;
  }

  async publish(update: CollectionUpdate): Promise<void> {
    this.emitter.emit('update', update);
    await this.publisher.publish(this.channel, JSON.stringify({ origin: this.origin, update }));
  }

  onUpdate(listener: (update: CollectionUpdate) => void): void {
    this.emitter.on('update', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    await Promise.allSettled([this.subscriber.quit(), this.publisher.quit()]);
  }
}
