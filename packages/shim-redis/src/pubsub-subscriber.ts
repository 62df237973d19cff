import {
  BrokerError,
  InvalidArgumentError,
  MessageQueue,
  MessagesLostError,
  type SubscribeOptions,
  type Subscriber,
} from '@proxystream/protocols';
import {
  type ClientHandle,
  dedicatedClient,
  type RedisConnection,
  releaseClient,
  withoutCredentials,
} from './connection.js';
import { validateTopic } from './topic.js';

/** Options of {@link RedisPubSubSubscriber.create}. */
export interface RedisPubSubSubscriberOptions extends SubscribeOptions {
  /**
   * Where to connect, or a client whose settings to copy: the subscriber always opens a connection
   * of its own (`duplicate()`), since a subscribed connection serves nothing else, and closes it.
   * Default `redis://127.0.0.1:6379`.
   */
  connection?: RedisConnection;
  /**
   * Bytes of unread messages held before newer ones are dropped (and the loss reported). A message
   * that arrives when nothing is buffered is always kept. Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /** Unread messages held before newer ones are dropped. Default 10 000. */
  maxBufferedMessages?: number;
  /**
   * Called when messages were or may have been lost: when unread messages overflowed the buffer
   * (once per run of drops) and when the connection to Redis broke (messages published until the
   * subscription is restored are not received). The stream goes on either way; a
   * `StreamConsumer` also reports such a loss as a sequence gap.
   */
  onLoss?: (error: MessagesLostError) => void;
}

const MiB = 1024 * 1024;

/**
 * Subscribes to one Redis pub/sub channel (`SUBSCRIBE`) and yields its messages in order.
 *
 * Redis keeps nothing for a subscriber: what is published while the connection is down, or while
 * the subscriber's buffer is full, is gone. The subscriber resubscribes by itself after a
 * reconnect and makes each such loss visible through `onLoss` and the counters
 * {@link droppedMessages} and {@link connectionLosses}. Groups are not supported: every subscriber
 * receives every message.
 *
 * @example
 * ```ts
 * const subscriber = await RedisPubSubSubscriber.create('frames', { onLoss: (e) => log(e) });
 * for await (const message of subscriber) handle(message);
 * ```
 */
export class RedisPubSubSubscriber implements Subscriber, AsyncIterableIterator<Uint8Array> {
  readonly #topic: string;
  readonly #handle: ClientHandle;
  readonly #queue: MessageQueue<Uint8Array>;
  readonly #maxBytes: number;
  readonly #maxMessages: number;
  readonly #onLoss: ((error: MessagesLostError) => void) | undefined;
  #bufferedBytes = 0;
  #dropped = 0;
  #dropping = false;
  #connectionLosses = 0;
  #subscribed = false;
  #down = false;

  private constructor(topic: string, options: RedisPubSubSubscriberOptions) {
    this.#topic = topic;
    this.#maxBytes = options.maxBufferedBytes ?? 8 * MiB;
    this.#maxMessages = options.maxBufferedMessages ?? 10_000;
    if (!(this.#maxBytes > 0) || !(this.#maxMessages > 0)) {
      throw new InvalidArgumentError('maxBufferedBytes and maxBufferedMessages must be positive');
    }
    this.#onLoss = options.onLoss;
    this.#handle = dedicatedClient(options.connection, { autoResubscribe: true });
    this.#queue = new MessageQueue<Uint8Array>({
      capacity: this.#maxMessages,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onClose: () => releaseClient(this.#handle),
    });
    const client = this.#handle.client;
    client.on('messageBuffer', this.#onMessage);
    client.on('close', this.#onDisconnect);
    client.on('ready', this.#onReady);
  }

  /**
   * Subscribes to `topic`; resolves once Redis confirmed the subscription, so a message published
   * after that is received.
   * @throws {@link InvalidTopicError} for a topic the Redis shims do not accept.
   * @throws {@link InvalidArgumentError} when a `group` is given: pub/sub has no competing consumers.
   * @throws {@link BrokerError} when the subscription fails.
   */
  static async create(
    topic: string,
    options: RedisPubSubSubscriberOptions = {},
  ): Promise<RedisPubSubSubscriber> {
    validateTopic(topic);
    if (options.group !== undefined) {
      throw new InvalidArgumentError(
        'Redis pub/sub has no consumer groups: every subscriber gets every message; use RedisStreamsSubscriber or RedisQueueSubscriber to share work',
      );
    }
    const subscriber = new RedisPubSubSubscriber(topic, options);
    if (subscriber.#queue.isClosed) {
      // Already aborted: release the connection at once; iteration ends immediately.
      await subscriber.close();
      return subscriber;
    }
    try {
      await subscriber.#handle.client.subscribe(topic);
      subscriber.#subscribed = true;
    } catch (error) {
      await subscriber.close();
      throw new BrokerError(`could not subscribe to Redis channel "${topic}": ${String(error)}`, {
        cause: withoutCredentials(error),
      });
    }
    return subscriber;
  }

  /** Messages dropped because the buffer of unread messages was full. */
  get droppedMessages(): number {
    return this.#dropped;
  }

  /** Times the connection broke while subscribed (each may have lost messages). */
  get connectionLosses(): number {
    return this.#connectionLosses;
  }

  /** The next message, or `done` once closed. */
  next(): Promise<IteratorResult<Uint8Array>> {
    return this.#queue.next().then(this.#consumed);
  }

  /** Called by `break` in `for await`: closes the subscriber. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** {@inheritDoc @proxystream/protocols#Subscriber.close} */
  close(): Promise<void> {
    return this.#queue.close();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  readonly #consumed = (result: IteratorResult<Uint8Array>): IteratorResult<Uint8Array> => {
    if (result.done !== true) this.#bufferedBytes -= result.value.byteLength;
    return result;
  };

  readonly #onMessage = (_channel: Buffer, message: Buffer): void => {
    const queue = this.#queue;
    const size = message.byteLength;
    if (
      queue.size > 0 &&
      (queue.size >= this.#maxMessages || this.#bufferedBytes + size > this.#maxBytes)
    ) {
      this.#dropped++;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#report(
          `subscriber of "${this.#topic}" reads too slowly: its buffer is full (${queue.size} messages, ${this.#bufferedBytes} bytes), newer messages are dropped until it catches up`,
        );
      }
      return;
    }
    this.#dropping = false;
    if (queue.push(message)) this.#bufferedBytes += size;
  };

  readonly #onDisconnect = (): void => {
    if (!this.#subscribed || this.#down || this.#queue.isClosed) return;
    this.#down = true;
    this.#connectionLosses++;
    this.#report(
      `connection of the subscriber of "${this.#topic}" to Redis broke; messages published until it resubscribes are lost`,
    );
  };

  readonly #onReady = (): void => {
    this.#down = false;
  };

  #report(message: string): void {
    const onLoss = this.#onLoss;
    if (onLoss === undefined) return;
    try {
      onLoss(new MessagesLostError(message));
    } catch {
      // A throwing callback must not break message delivery.
    }
  }
}
