import { positiveInteger, throwIfAborted } from '@proxystream/protocols/kit';
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
 *
 * @example
 * ```ts
 * await using publisher = await RedisStreamsPublisher.create({ maxLength: 100_000 });
 * await publisher.send('events', bytes);
 * ```
 */
export class RedisStreamsPublisher extends WindowedPublisher {
  readonly #trim: readonly (string | number)[];

  private constructor(options: RedisStreamsPublisherOptions, maxLength: number | undefined) {
    super('Redis Streams publisher', options, PERSISTENT_MAX_MESSAGE_SIZE, true, PERSISTENT_WINDOW);
    this.#trim =
      maxLength === undefined ? [] : ['MAXLEN', options.exactTrim ? '=' : '~', maxLength];
  }

  /**
   * Makes a publisher. It resolves without a round trip: a connection the publisher opens
   * connects in the background and ioredis queues the first commands until it is up; a server
   * that cannot be reached or refuses the credentials surfaces as `BrokerError` from `send`.
   * @throws {@link InvalidArgumentError} for an option out of range.
   * @throws {@link AbortedError} when `options.signal` is already aborted (nothing is opened).
   */
  static async create(options: RedisStreamsPublisherOptions = {}): Promise<RedisStreamsPublisher> {
    throwIfAborted(options.signal);
    // Checked before the base class opens a connection.
    const maxLength =
      options.maxLength === undefined
        ? undefined
        : positiveInteger(options.maxLength, 'maxLength', 1);
    return new RedisStreamsPublisher(options, maxLength);
  }

  protected dispatch(topic: string, data: Buffer): Promise<unknown> {
    return this.client.call('XADD', topic, ...this.#trim, '*', STREAM_DATA_FIELD, data);
  }
}
