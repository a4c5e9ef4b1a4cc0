import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';

/** A `collection_update` as it travels between processes, before it is sent to sessions. */
export interface CollectionUpdate {
  collection: string;
  msg: 'added' | 'changed' | 'removed';
  id: number | string;
  fields?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/**
 * Entity-change events. With Redis every daemon and worker publishes to one channel and every
 * daemon hears every event; without it the bus is a local emitter.
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

  private constructor(url: string, prefix: string) {
    this.channel = `${prefix}:events`;
    this.publisher = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.subscriber = new Redis(url, { lazyConnect: true });
  }

  static async connect(url: string, prefix: string): Promise<RedisEventBus> {
    const bus = new RedisEventBus(url, prefix);
    await Promise.all([bus.publisher.connect(), bus.subscriber.connect()]);
    bus.subscriber.on('message', (_channel: string, message: string) => {
      bus.emitter.emit('update', JSON.parse(message) as CollectionUpdate);
    });
    await bus.subscriber.subscribe(bus.channel);
    return bus;
  }

  async publish(update: CollectionUpdate): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(update));
  }

  onUpdate(listener: (update: CollectionUpdate) => void): void {
    this.emitter.on('update', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    await Promise.allSettled([this.subscriber.quit(), this.publisher.quit()]);
  }
}
