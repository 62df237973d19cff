import { throwIfAborted } from '@proxystream/protocols/kit';
import { PERSISTENT_MAX_MESSAGE_SIZE, PERSISTENT_WINDOW } from './capabilities.js';
import { type RedisPublisherOptions, WindowedPublisher } from './windowed-publisher.js';

/** Options of {@link RedisQueuePublisher}. */
export type RedisQueuePublisherOptions = RedisPublisherOptions;

/**
 * Appends messages to a Redis list (`RPUSH`), one list per topic, for
 * {@link RedisQueueSubscriber}s to share. `send` resolves once Redis stored the message;
 * concurrent sends are pipelined within the in-flight window and stored in call order.
 * Default largest message: 64 MiB ({@link PERSISTENT_MAX_MESSAGE_SIZE}).
 *
 * @example
 * ```ts
 * await using publisher = await RedisQueuePublisher.create({ connection: 'redis://127.0.0.1:6379' });
 * await publisher.send('jobs', bytes);
 * ```
 */
export class RedisQueuePublisher extends WindowedPublisher {
  private constructor(options: RedisQueuePublisherOptions) {
    super('Redis queue publisher', options, PERSISTENT_MAX_MESSAGE_SIZE, true, PERSISTENT_WINDOW);
  }

  /**
   * Makes a publisher. It resolves without a round trip: a connection the publisher opens
   * connects in the background and ioredis queues the first commands until it is up; a server
   * that cannot be reached or refuses the credentials surfaces as `BrokerError` from `send`.
   * @throws {@link InvalidArgumentError} for an option out of range.
   * @throws {@link AbortedError} when `options.signal` is already aborted (nothing is opened).
   */
  static async create(options: RedisQueuePublisherOptions = {}): Promise<RedisQueuePublisher> {
    throwIfAborted(options.signal);
    return new RedisQueuePublisher(options);
  }

  protected dispatch(topic: string, data: Buffer): Promise<unknown> {
    return this.client.rpush(topic, data);
  }
}
