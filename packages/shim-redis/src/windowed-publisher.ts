import {
  assertMessageSize,
  BrokerError,
  ClosedError,
  type MessagingAttributes,
  type Publisher,
  type PublishOptions,
} from '@proxystream/protocols';
import {
  bytesToSend,
  InFlightWindow,
  positiveInteger,
  positiveNumber,
} from '@proxystream/protocols/kit';
import { REDIS_MESSAGING } from './capabilities.js';
import {
  type ClientHandle,
  isCluster,
  type RedisClient,
  type RedisConnection,
  releaseClient,
  sharedClient,
  withoutCredentials,
} from './connection.js';
import { DEFAULT_FAILOVER_BUDGET_MS, isFailoverError, retryAcrossFailover } from './failover.js';
import { assertValidTopic } from './topic.js';

/** Options every Redis publisher accepts. */
export interface RedisPublisherOptions {
  /** Where to connect, or a client to use (never closed by the publisher). Default `redis://127.0.0.1:6379`. */
  connection?: RedisConnection;
  /** Most commands in flight at once. Default 16 for pub/sub, 64 for the list queue and Streams. */
  maxInFlightMessages?: number;
  /**
   * Most message bytes in flight at once; a larger single message still goes, alone. Default
   * 1 MiB for pub/sub, 4 MiB for the list queue and Streams.
   */
  maxInFlightBytes?: number;
  /** Largest message accepted, in bytes; defaults to the shim's documented limit. */
  maxMessageSize?: number;
  /**
   * On a Redis Cluster (a `Cluster` given as `connection`): how long, in ms, a message of the
   * list-queue or Streams publisher whose command failed because the cluster is failing over
   * (`MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`, a dead node's closed connection, ioredis's "Too
   * many Cluster redirections") is sent again before the failure reaches the caller. Default
   * 30 000 ({@link DEFAULT_FAILOVER_BUDGET_MS}). Ignored on a single server. The pub/sub
   * publisher does not send such a message again (it would arrive after later ones): it counts it
   * in `failoverDrops` and throws nothing.
   */
  retryForMs?: number;
  /**
   * An already aborted signal makes `create` reject with `AbortedError` and open nothing. It
   * bounds the creation only; use `close()` to end the publisher.
   */
  signal?: AbortSignal;
}

/** Default in-flight window of a publisher kind. */
export interface WindowDefaults {
  readonly count: number;
  readonly bytes: number;
}

/**
 * The send path the three Redis publishers share: topic and size checks, a private copy of the
 * message, and an {@link InFlightWindow} so that a burst of sends turns into backpressure.
 * Subclasses issue the one command that carries a message.
 */
export abstract class WindowedPublisher implements Publisher {
  /** `{ system: 'redis' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = REDIS_MESSAGING;
  readonly #handle: ClientHandle;
  readonly #window: InFlightWindow;
  readonly #maxMessageSize: number;
  readonly #awaitReply: boolean;
  readonly #what: string;
  /** Retry budget across a failover, in ms; `undefined` on a single server (no retries). */
  readonly #retryForMs: number | undefined;
  #failoverDrops = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #failure: unknown;
  /** The last topic that passed validation: a stream sends to the same few topics over and over. */
  #validTopic: string | undefined;

  /**
   * @param awaitReply `true`: `send` resolves once Redis replied (the message is stored);
   * `false`: once the command is written inside the window, a failure surfaces on a later
   * `send` or on `close`.
   */
  protected constructor(
    what: string,
    options: RedisPublisherOptions,
    defaultMaxMessageSize: number,
    awaitReply: boolean,
    window: WindowDefaults,
  ) {
    this.#what = what;
    this.#maxMessageSize = positiveInteger(
      options.maxMessageSize,
      'maxMessageSize',
      defaultMaxMessageSize,
    );
    this.#window = new InFlightWindow({
      maxCount: positiveInteger(options.maxInFlightMessages, 'maxInFlightMessages', window.count),
      maxBytes: positiveInteger(options.maxInFlightBytes, 'maxInFlightBytes', window.bytes),
    });
    this.#awaitReply = awaitReply;
    const retryForMs = positiveNumber(options.retryForMs, 'retryForMs', DEFAULT_FAILOVER_BUDGET_MS);
    this.#handle = sharedClient(options.connection);
    this.#retryForMs = isCluster(this.#handle.client) ? retryForMs : undefined;
  }

  /**
   * Messages of a publisher that does not wait for replies (pub/sub) that a cluster's failover
   * cut off and that were not sent again: lost, as pub/sub messages are when nobody is
   * subscribed. Always 0 on a single server, where such a failure is thrown instead.
   */
  get failoverDrops(): number {
    return this.#failoverDrops;
  }

  /** Whether the publisher talks to a Redis Cluster. */
  protected get onCluster(): boolean {
    return this.#retryForMs !== undefined;
  }

  /** The client commands go through. */
  protected get client(): RedisClient {
    return this.#handle.client;
  }

  /** Runs once on close, after the last command settled, before the client is released. */
  protected released(): void {}

  /** Issues the command that carries `data` to `topic`. */
  protected abstract dispatch(topic: string, data: Buffer): Promise<unknown>;

  /** {@inheritDoc @proxystream/protocols#Publisher.send} */
  async send(topic: string, message: Uint8Array, options?: PublishOptions): Promise<void> {
    if (this.#closed) throw new ClosedError(this.#what);
    if (topic !== this.#validTopic) {
      assertValidTopic(topic);
      this.#validTopic = topic;
    }
    assertMessageSize(message, this.#maxMessageSize);
    this.#throwFailure();
    // A copy: the caller may reuse its buffer once `send` returned, and ioredis may write later
    // (its offline queue keeps the argument); unless the caller handed the message over.
    const data = bytesToSend(message, options?.owned);
    const size = data.byteLength;
    const waiting = this.#window.acquire(size);
    if (waiting !== undefined) await waiting;
    const budget = this.#retryForMs;
    const reply =
      budget === undefined || !this.#awaitReply
        ? this.dispatch(topic, data)
        : retryAcrossFailover(() => this.dispatch(topic, data), budget);
    if (this.#awaitReply) {
      try {
        await reply;
      } catch (error) {
        throw new BrokerError(
          `${this.#what}: Redis refused the message for "${topic}": ${String(error)}`,
          {
            cause: withoutCredentials(error),
          },
        );
      } finally {
        this.#window.release(size);
      }
      return;
    }
    reply.then(
      () => this.#window.release(size),
      (error: unknown) => {
        // On a cluster, a message that a failover cut off is lost like any other pub/sub message
        // (the subscribers' sequence gaps report it): sending it again later would deliver it
        // after the messages sent since.
        if (budget !== undefined && isFailoverError(error)) this.#failoverDrops++;
        else this.#failure ??= error;
        this.#window.release(size);
      },
    );
  }

  /** {@inheritDoc @proxystream/protocols#Publisher.close} */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `await using publisher = await X.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await this.#window.drained();
    this.released();
    releaseClient(this.#handle);
    this.#throwFailure();
  }

  #throwFailure(): void {
    const failure = this.#failure;
    if (failure === undefined) return;
    this.#failure = undefined;
    throw new BrokerError(
      `${this.#what}: an earlier message was not accepted by Redis: ${String(failure)}`,
      {
        cause: withoutCredentials(failure),
      },
    );
  }
}
