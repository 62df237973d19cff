import { InvalidArgumentError } from '@proxystream/protocols';
import { PERSISTENT_MAX_MESSAGE_SIZE, PERSISTENT_WINDOW } from './capabilities.js';
import { type RedisPublisherOptions, WindowedPublisher } from './windowed-publisher.js';

/** Field of a stream entry that holds the message bytes. */
export const STREAM_DATA_FIELD = 'd';

/** Options of {@link RedisStreamsPublisher}. */
export interface RedisStreamsPublisherOptions extends RedisPublisherOptions {
  /**
   * Trim each stream to about this many entries on every `XADD` (`MAXLEN ~ n`): older entries are
   * deleted even when a group has not read them yet. Default: no trimming.
   */
  maxLength?: number;
  /** Trim exactly (`MAXLEN = n`) instead of approximately, which costs Redis more. Default `false`. */
  exactTrim?: boolean;
}

/**
 * Appends messages to Redis Streams (`XADD`), one stream per topic, each message in the field
 * {@link STREAM_DATA_FIELD} of its entry. `send` resolves once Redis stored the entry; concurrent
 * sends are pipelined within the in-flight window and stored in call order.
 * Default largest message: 64 MiB ({@link PERSISTENT_MAX_MESSAGE_SIZE}).
 */
export class RedisStreamsPublisher extends WindowedPublisher {
  readonly #trim: readonly (string | number)[];

  constructor(options: RedisStreamsPublisherOptions = {}) {
    super('Redis Streams publisher', options, PERSISTENT_MAX_MESSAGE_SIZE, true, PERSISTENT_WINDOW);
    const max = options.maxLength;
    if (max !== undefined && !(Number.isSafeInteger(max) && max > 0)) {
      throw new InvalidArgumentError(`maxLength must be a positive integer, got ${max}`);
    }
    this.#trim = max === undefined ? [] : ['MAXLEN', options.exactTrim ? '=' : '~', max];
  }

  protected dispatch(topic: string, data: Buffer): Promise<unknown> {
    return this.client.call('XADD', topic, ...this.#trim, '*', STREAM_DATA_FIELD, data);
  }
}
