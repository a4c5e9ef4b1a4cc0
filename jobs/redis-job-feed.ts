import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { JobEvent } from '../src/api/jobs.js';
import { parse, stringify } from '../src/client/ejson.js';
import type { Logger } from '../src/logger.js';
import type { SecretBox } from '../src/secrets.js';
import { LocalJobFeed } from './job-feed.js';

type FeedMessage = { origin: string; event: JobEvent } | { origin: string; abort: number };

/**
 * The job feed over Redis pub/sub, shared by every daemon and worker under one prefix. Messages are
 * sealed with the master key (results may hold private keys). Publishing never waits for Redis:
 * while it is unreachable, other processes miss live news and read the database instead.
 */
export class RedisJobFeed extends LocalJobFeed {
  override readonly shared = true;
  private readonly channel: string;
  /** Marks this process's messages, so its own echo from Redis is not delivered twice. */
  private readonly origin = randomUUID();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    prefix: string,
    private readonly secrets: SecretBox,
    private readonly logger: Logger,
  ) {
    super();
    this.channel = `${prefix}:job-feed`;
  }

  static async connect(url: string, prefix: string, secrets: SecretBox, logger: Logger): Promise<RedisJobFeed> {
    // No offline queue: a message published while Redis is away fails at once instead of piling up.
    const publisher = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const subscriber = new Redis(url, { lazyConnect: true });
    const feed = new RedisJobFeed(publisher, subscriber, prefix, secrets, logger);
    publisher.on('error', () => undefined); // reconnects by itself; failed publishes are logged below
    subscriber.on('error', () => undefined);
    await Promise.all([publisher.connect(), subscriber.connect()]);
    subscriber.on('message', (_channel: string, text: string) => feed.receive(text));
    await subscriber.subscribe(feed.channel);
    return feed;
  }

  override publish(event: JobEvent): void {
    super.publish(event);
    this.send({ origin: this.origin, event });
  }

  override requestAbort(id: number): void {
    super.requestAbort(id);
    this.send({ origin: this.origin, abort: id });
  }

  override async close(): Promise<void> {
    await super.close();
    await Promise.allSettled([this.subscriber.quit(), this.publisher.quit()]);
  }

  private send(message: FeedMessage): void {
    let sealed: string;
    try {
      sealed = this.secrets.encrypt(stringify(message));
    } catch (error) {
      this.logger.error({ err: error }, 'job news could not be encoded');
      return;
    }
    this.publisher.publish(this.channel, sealed).catch((error: unknown) => this.logger.debug({ err: error }, 'job news not published'));
  }

  private receive(text: string): void {
    let message: FeedMessage;
    try {
      message = parse(this.secrets.decrypt(text)) as FeedMessage;
    } catch (error) {
      this.logger.warn({ err: error }, 'job news cannot be opened; do all daemons and workers share one master key?');
      return;
    }
    if (message.origin === this.origin) return;
    if ('abort' in message) this.emitter.emit('abort', message.abort);
    else this.emitter.emit('event', message.event);
  }
}
