import { PERSISTENT_MAX_MESSAGE_SIZE, PERSISTENT_WINDOW } from './capabilities.js';
import { type RedisPublisherOptions, WindowedPublisher } from './windowed-publisher.js';

/** Options of {@link RedisQueuePublisher}. */
export type RedisQueuePublisherOptions = RedisPublisherOptions;

/**
 * Appends messages to a Redis list (`RPUSH`), one list per topic, for
 * {@link RedisQueueSubscriber}s to share. `send` resolves once Redis stored the message;
 * concurrent sends are pipelined within the in-flight window and stored in call order.
 * Default largest message: 64 MiB ({@link PERSISTENT_MAX_MESSAGE_SIZE}).
 */
export class RedisQueuePublisher extends WindowedPublisher {
  constructor(options: RedisQueuePublisherOptions = {}) {
    super('Redis queue publisher', options, PERSISTENT_MAX_MESSAGE_SIZE, true, PERSISTENT_WINDOW);
  }

  protected dispatch(topic: string, data: Buffer): Promise<unknown> {
    return this.client.rpush(topic, data);
  }
}
