import {
  AbortedError,
  BrokerError,
  InvalidArgumentError,
  MessagesLostError,
  type MessagingAttributes,
  type SubscribeOptions,
  type Subscriber,
} from '@proxystream/protocols';
import {
  type LossReporting,
  positiveInteger,
  QueueSubscriber,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import { REDIS_MESSAGING } from './capabilities.js';
import {
  type ClientHandle,
  dedicatedClient,
  isCluster,
  isRedisClient,
  type RedisConnection,
  releaseClient,
  sharedClient,
  withoutCredentials,
} from './connection.js';
import { ShardedChannel, type ShardedNode } from './sharded-channel.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link RedisPubSubSubscriber.create}. */
export interface RedisPubSubSubscriberOptions extends SubscribeOptions, LossReporting {
  /**
   * Where to connect, or a client whose settings to copy: the subscriber always opens a connection
   * of its own (`duplicate()`), since a subscribed connection serves nothing else, and closes it.
   * A Redis `Cluster` makes it a sharded subscriber (`SSUBSCRIBE`, for `SPUBLISH`), connected to
   * the master of the topic's slot (or a replica, see {@link shardedNode}); the cluster client
   * itself only tells which node that is. Default `redis://127.0.0.1:6379`.
   */
  connection?: RedisConnection;
  /**
   * On a Redis `Cluster`: the node of the topic's slot the subscription listens on. `'master'`
   * (default): the lowest latency; the master's death breaks the subscription (`next()` rejects
   * once with `MessagesLostError`) and it is restored on the new master. `'replica'`: the
   * subscription outlives the master's failover, but Redis passes sharded messages to replicas
   * over the cluster bus, which added latency here (p50 0.19 ms against 0.11 ms, p99 38 ms
   * against 0.47 ms).
   */
  shardedNode?: ShardedNode;
  /**
   * Bytes of unread messages held before newer ones are dropped (and the loss reported). A message
   * that arrives when nothing is buffered is always kept. Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /** Unread messages held before newer ones are dropped. Default 10 000. */
  maxBufferedMessages?: number;
  /**
   * Called, in addition to the error from `next()`, when messages were or may have been lost:
   * once when a run of drops from a full buffer begins, and once per broken connection (what
   * is published until the subscription is restored is not received). For logs and metrics; a
   * throwing callback is ignored. See `LossReporting` in `@proxystream/protocols/kit`.
   */
  onLoss?: (error: MessagesLostError) => void;
}

/** The error `next()` rejects with for `dropped` messages of `topic` dropped from a full buffer. */
function overflowError(topic: string, dropped: number): MessagesLostError {
  return new MessagesLostError(
    `${dropped} message(s) of "${topic}" dropped: the subscriber read too slowly and its buffer ` +
      '(maxBufferedMessages / maxBufferedBytes) was full; read faster or raise the limits',
  );
}

/** The error for a broken connection: Redis does not say how many messages it did not deliver. */
function disconnectError(topic: string, cause: unknown): MessagesLostError {
  return new MessagesLostError(
    `the connection of the subscriber of "${topic}" to Redis broke (count of messages lost unknown): ` +
      'Redis pub/sub keeps nothing, so what was published until it resubscribed is lost, ' +
      'possibly the end of the stream; use Redis Streams to keep messages',
    cause === undefined ? undefined : { cause },
  );
}

const MiB = 1024 * 1024;

/**
 * Subscribes to one Redis pub/sub channel (`SUBSCRIBE`) and yields its messages in order.
 *
 * Redis keeps nothing for a subscriber: what is published while the connection is down, or while
 * the subscriber's buffer is full, is gone. On a Redis Cluster (a `Cluster` as `connection`) it
 * subscribes to the sharded channel (`SSUBSCRIBE`) on the master of the topic's slot, so that a
 * topic's messages keep their order; a failover of that master is a broken connection, reported
 * like any other, after which it subscribes on the new master. Every such loss makes `next()` reject with
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
export class RedisPubSubSubscriber extends QueueSubscriber<Buffer> implements Subscriber {
  /** `{ system: 'redis' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = REDIS_MESSAGING;
  readonly #topic: string;
  readonly #handle: ClientHandle;
  readonly #maxBytes: number;
  readonly #maxMessages: number;
  /** Bytes of the messages pushed and not yet taken by the reader. */
  #bufferedBytes = 0;
  #dropped = 0;
  #connectionLosses = 0;
  /** On a cluster: the sharded subscription (the client then only locates the slot's master). */
  readonly #sharded: ShardedChannel | undefined;
  #subscribed = false;
  #down = false;
  /** The client's last error since it was ready: the likely cause of the next disconnect. */
  #lastError: unknown;

  private constructor(
    topic: string,
    options: RedisPubSubSubscriberOptions,
    maxMessages: number,
    maxBytes: number,
  ) {
    super({ capacity: maxMessages, signal: options.signal, onLoss: options.onLoss });
    this.#topic = topic;
    this.#maxBytes = maxBytes;
    this.#maxMessages = maxMessages;
    const connection = options.connection;
    if (isRedisClient(connection) && isCluster(connection)) {
      this.#handle = sharedClient(connection);
      this.#sharded = new ShardedChannel(
        connection,
        topic,
        {
          message: (data) => this.#onMessage(undefined, data),
          lost: (cause) => {
            this.#lastError = cause;
            this.#onDisconnect();
          },
          restored: this.#onReady,
        },
        options.shardedNode,
      );
      return;
    }
    this.#handle = dedicatedClient(connection, { autoResubscribe: true });
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
   * @throws {@link InvalidArgumentError} when a `group` is given (pub/sub has no competing
   * consumers), or for a buffer limit that is not a positive integer.
   * @throws {@link AbortedError} when `options.signal` is aborted before the subscription is
   * confirmed (nothing stays open).
   * @throws {@link BrokerError} when the subscription fails.
   */
  static async create(
    topic: string,
    options: RedisPubSubSubscriberOptions = {},
  ): Promise<RedisPubSubSubscriber> {
    throwIfAborted(options.signal);
    assertValidTopic(topic);
    if (options.group !== undefined) {
      throw new InvalidArgumentError(
        'Redis pub/sub has no consumer groups: every subscriber gets every message; use RedisStreamsSubscriber or RedisQueueSubscriber to share work',
      );
    }
    const node = options.shardedNode;
    if (node !== undefined && node !== 'master' && node !== 'replica') {
      throw new InvalidArgumentError(
        `shardedNode must be 'master' or 'replica', got ${String(node)}`,
      );
    }
    const maxMessages = positiveInteger(options.maxBufferedMessages, 'maxBufferedMessages', 10_000);
    const maxBytes = positiveInteger(options.maxBufferedBytes, 'maxBufferedBytes', 8 * MiB);
    const subscriber = new RedisPubSubSubscriber(topic, options, maxMessages, maxBytes);
    try {
      if (subscriber.#sharded === undefined) await subscriber.#handle.client.subscribe(topic);
      else await subscriber.#sharded.open();
      subscriber.#subscribed = true;
    } catch (error) {
      await subscriber.close();
      if (options.signal?.aborted) throw new AbortedError();
      throw new BrokerError(`could not subscribe to Redis channel "${topic}": ${String(error)}`, {
        cause: withoutCredentials(error),
      });
    }
    if (options.signal?.aborted) {
      await subscriber.close();
      throw new AbortedError();
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

  protected taken(message: Buffer): Uint8Array {
    this.#bufferedBytes -= message.byteLength;
    return message;
  }

  protected release(): void {
    this.#sharded?.close();
    releaseClient(this.#handle);
  }

  readonly #onMessage = (_channel: Buffer | undefined, message: Buffer): void => {
    const size = message.byteLength;
    // Messages waiting in the queue (one handed straight to a waiting reader is not counted:
    // ioredis emits a whole socket chunk's messages in one go, before the reader took it).
    const buffered = this.buffered;
    if (
      buffered > 0 &&
      (buffered >= this.#maxMessages || this.#bufferedBytes + size > this.#maxBytes)
    ) {
      this.#dropped++;
      this.lose('overflow', (dropped) => overflowError(this.#topic, dropped));
      return;
    }
    if (this.push(message)) this.#bufferedBytes += size;
  };

  readonly #onError = (error: unknown): void => {
    this.#lastError = error;
  };

  readonly #onDisconnect = (): void => {
    if (!this.#subscribed || this.#down || this.closed) return;
    this.#down = true;
    this.#connectionLosses++;
    const cause = this.#lastError === undefined ? undefined : withoutCredentials(this.#lastError);
    // A kind of its own per outage: two outages with no message between them are two losses.
    this.lose(`disconnect-${this.#connectionLosses}`, () => disconnectError(this.#topic, cause));
  };

  readonly #onReady = (): void => {
    this.#down = false;
    this.#lastError = undefined;
  };
}
