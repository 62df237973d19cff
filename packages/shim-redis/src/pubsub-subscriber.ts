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
   * Called, in addition to the error from `next()`, when messages were or may have been lost:
   * once per run of messages dropped from a full buffer, and once per broken connection (what
   * is published until the subscription is restored is not received). For logs and metrics; a
   * throwing callback is ignored.
   */
  onLoss?: (error: MessagesLostError) => void;
}

/**
 * A place in the stream where messages went missing. It waits in the queue behind the messages
 * received before the loss, so that `next()` rejects exactly there, even when nobody was reading
 * when it happened, and even when what was lost was the last message of the stream.
 */
class Loss {
  /** Messages dropped; not counted for a broken connection (Redis does not say what it lost). */
  dropped = 0;
  constructor(
    readonly topic: string,
    readonly reason: 'overflow' | 'disconnect',
    readonly cause: unknown,
  ) {}

  /** The error `next()` throws; `ongoing` for `onLoss`, called when the drops begin. */
  error(ongoing = false): MessagesLostError {
    const options = this.cause === undefined ? undefined : { cause: this.cause };
    const what = ongoing ? 'messages' : `${this.dropped} message(s)`;
    return this.reason === 'overflow'
      ? new MessagesLostError(
          `${what} of "${this.topic}" dropped: the subscriber read too slowly and its buffer ` +
            '(maxBufferedMessages / maxBufferedBytes) was full; read faster or raise the limits',
          options,
        )
      : new MessagesLostError(
          `the connection of the subscriber of "${this.topic}" to Redis broke (count of messages lost unknown): ` +
            'Redis pub/sub keeps nothing, so what was published until it resubscribed is lost, ' +
            'possibly the end of the stream; use Redis Streams to keep messages',
          options,
        );
  }
}

const MiB = 1024 * 1024;

/**
 * Subscribes to one Redis pub/sub channel (`SUBSCRIBE`) and yields its messages in order.
 *
 * Redis keeps nothing for a subscriber: what is published while the connection is down, or while
 * the subscriber's buffer is full, is gone. Every such loss makes `next()` reject with
 * {@link MessagesLostError} once, at the place in the stream where it happened (after the
 * messages received before it, even if nobody was reading at the time); calling `next()` again
 * goes on with the messages after it. A broken connection always counts as a loss: Redis cannot
 * say what it did not deliver, so a lost end-of-stream is reported rather than waited for. The
 * subscriber resubscribes by itself after a reconnect. `onLoss` and the counters
 * {@link droppedMessages} and {@link connectionLosses} report the same losses. Groups are not
 * supported: every subscriber receives every message.
 *
 * @example
 * ```ts
 * const subscriber = await RedisPubSubSubscriber.create('frames');
 * for (;;) {
 *   try {
 *     const { done, value } = await subscriber.next();
 *     if (done) break;
 *     handle(value);
 *   } catch (error) {
 *     if (!(error instanceof MessagesLostError)) throw error;
 *     log(error); // messages are missing here; the stream goes on
 *   }
 * }
 * ```
 */
export class RedisPubSubSubscriber implements Subscriber, AsyncIterableIterator<Uint8Array> {
  readonly #topic: string;
  readonly #handle: ClientHandle;
  readonly #queue: MessageQueue<Uint8Array | Loss>;
  readonly #maxBytes: number;
  readonly #maxMessages: number;
  readonly #onLoss: ((error: MessagesLostError) => void) | undefined;
  /** Loss markers pushed and not yet consumed (the queue's size counts them too). */
  #markers = 0;
  /** Bytes of the messages pushed and not yet consumed. */
  #bufferedBytes = 0;
  #dropped = 0;
  /** The overflow marker at the tail of the queue, which further drops are added to. */
  #openOverflow: Loss | undefined;
  #connectionLosses = 0;
  #subscribed = false;
  #down = false;
  /** The client's last error since it was ready: the likely cause of the next disconnect. */
  #lastError: unknown;

  private constructor(topic: string, options: RedisPubSubSubscriberOptions) {
    this.#topic = topic;
    this.#maxBytes = options.maxBufferedBytes ?? 8 * MiB;
    this.#maxMessages = options.maxBufferedMessages ?? 10_000;
    if (!(this.#maxBytes > 0) || !(this.#maxMessages > 0)) {
      throw new InvalidArgumentError('maxBufferedBytes and maxBufferedMessages must be positive');
    }
    this.#onLoss = options.onLoss;
    this.#handle = dedicatedClient(options.connection, { autoResubscribe: true });
    this.#queue = new MessageQueue<Uint8Array | Loss>({
      capacity: this.#maxMessages,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onClose: () => releaseClient(this.#handle),
    });
    const client = this.#handle.client;
    client.on('messageBuffer', this.#onMessage);
    client.on('error', this.#onError);
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

  /** Times the connection broke while subscribed (each may have lost messages, and is reported). */
  get connectionLosses(): number {
    return this.#connectionLosses;
  }

  /**
   * The next message, or `done` once closed.
   * @throws {@link MessagesLostError} once per loss, where it happened (a full buffer, a broken
   * connection); calling `next()` again goes on after it.
   */
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

  readonly #consumed = (result: IteratorResult<Uint8Array | Loss>): IteratorResult<Uint8Array> => {
    if (result.done === true) return result;
    const value = result.value;
    if (value instanceof Loss) {
      this.#markers--;
      if (this.#openOverflow === value) this.#openOverflow = undefined;
      throw value.error();
    }
    this.#bufferedBytes -= value.byteLength;
    return result as IteratorResult<Uint8Array>;
  };

  readonly #onMessage = (_channel: Buffer, message: Buffer): void => {
    const queue = this.#queue;
    const size = message.byteLength;
    // Messages waiting in the queue (one handed straight to a waiting reader is not counted:
    // ioredis emits a whole socket chunk's messages in one go, before the reader took it).
    const buffered = queue.size - this.#markers;
    if (
      buffered > 0 &&
      (buffered >= this.#maxMessages || this.#bufferedBytes + size > this.#maxBytes)
    ) {
      this.#dropped++;
      const open = this.#openOverflow;
      if (open !== undefined) {
        open.dropped++;
        return;
      }
      const loss = new Loss(this.#topic, 'overflow', undefined);
      loss.dropped = 1;
      this.#openOverflow = loss;
      this.#pushLoss(loss);
      return;
    }
    // A message behind the marker: a later drop is a new loss, reported after this message.
    this.#openOverflow = undefined;
    if (queue.push(message)) this.#bufferedBytes += size;
  };

  readonly #onError = (error: unknown): void => {
    this.#lastError = error;
  };

  readonly #onDisconnect = (): void => {
    if (!this.#subscribed || this.#down || this.#queue.isClosed) return;
    this.#down = true;
    this.#connectionLosses++;
    this.#openOverflow = undefined;
    const cause = this.#lastError === undefined ? undefined : withoutCredentials(this.#lastError);
    this.#pushLoss(new Loss(this.#topic, 'disconnect', cause));
  };

  #pushLoss(loss: Loss): void {
    if (!this.#queue.push(loss)) return;
    this.#markers++;
    this.#report(loss);
  }

  readonly #onReady = (): void => {
    this.#down = false;
    this.#lastError = undefined;
  };

  #report(loss: Loss): void {
    const onLoss = this.#onLoss;
    if (onLoss === undefined) return;
    try {
      onLoss(loss.error(true));
    } catch {
      // A throwing callback must not break message delivery.
    }
  }
}
