import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { nuid } from '@nats-io/transport-node';
import {
  assertMessageSize,
  BrokerError,
  ClosedError,
  InvalidArgumentError,
  MessageTooLargeError,
  type MessagingAttributes,
  type Publisher,
  type PublishOptions,
} from '@proxystream/protocols';
import {
  bytesToSend,
  InFlightWindow,
  pause,
  positiveInteger,
  positiveNumber,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import { JETSTREAM_HEADER_RESERVE, NATS_MESSAGING } from './capabilities.js';
import {
  type HeldConnection,
  maxPayloadOf,
  messageOf,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  toProxyStreamError,
} from './connection.js';
import { type JetStreamStreamOptions, StreamTarget } from './jetstream-stream.js';
import { assertValidTopic } from './topic.js';
import { apiErrorCode, isTransient } from './transient.js';

/** Options of {@link JetStreamPublisher.create}. */
export interface JetStreamPublisherOptions extends NatsConnectionOptions, JetStreamStreamOptions {
  /** Most publishes awaiting their acknowledgement at once; more `send` calls wait. Default 256. */
  maxInFlightMessages?: number;
  /** Most bytes awaiting acknowledgement at once. Default 16 MiB. */
  maxInFlightBytes?: number;
  /** How long one attempt waits for the server's acknowledgement, in ms. Default 5 000. */
  ackTimeoutMs?: number;
  /**
   * How long `send` keeps retrying (with the same message id, so the server stores the message
   * once) through timeouts and reconnections before it fails, in ms. Default 30 000.
   */
  retryForMs?: number;
  /** An aborted signal makes {@link JetStreamPublisher.create} reject with `AbortedError`, opening nothing. */
  signal?: AbortSignal;
}

interface PublisherSettings {
  readonly maxCount: number;
  readonly maxBytes: number;
  readonly ackTimeout: number;
  readonly retryFor: number;
}

function publisherSettings(options: JetStreamPublisherOptions): PublisherSettings {
  return {
    maxCount: positiveInteger(options.maxInFlightMessages, 'maxInFlightMessages', 256),
    maxBytes: positiveInteger(options.maxInFlightBytes, 'maxInFlightBytes', 16 * 1024 * 1024),
    ackTimeout: positiveInteger(options.ackTimeoutMs, 'ackTimeoutMs', 5_000),
    retryFor: positiveNumber(options.retryForMs, 'retryForMs', 30_000),
  };
}

/** Options of one {@link JetStreamPublisher.send}. */
export interface JetStreamSendOptions extends PublishOptions {
  /**
   * Deduplication id (`Nats-Msg-Id`): the server stores one message per id within the stream's
   * duplicate window. Default: a fresh random id. Pass your own to make a retry of your own
   * idempotent. At most 128 characters, no whitespace.
   */
  msgID?: string;
}

const MAX_ID_LENGTH = 128;

/** The server refused a message above the stream's `max_msg_size` (JetStream API error 10054). */
function isTooLargeForStream(error: unknown): boolean {
  return (
    apiErrorCode(error) === 10054 || /message size exceeds maximum allowed/i.test(messageOf(error))
  );
}

/**
 * Publishes byte messages to JetStream: each topic is a subject of one stream (see
 * {@link JetStreamStreamOptions}), and each message is stored before `send` resolves.
 *
 * `send` resolves when the server acknowledged the message. Up to `maxInFlightMessages` sends wait for
 * their acknowledgements at once, so concurrent senders are pipelined and a burst waits instead
 * of growing buffers. Every message carries a `Nats-Msg-Id`; a send that times out or is cut by
 * a reconnection is retried with the same id, and the server keeps one copy.
 *
 * @example
 * ```ts
 * const connection = { servers: 'nats://127.0.0.1:4222' };
 * await ensureStream({ connection });
 * await using publisher = await JetStreamPublisher.create({ connection });
 * await publisher.send('frames', bytes);
 * ```
 */
export class JetStreamPublisher implements Publisher, AsyncDisposable {
  /** `{ system: 'nats' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = NATS_MESSAGING;
  readonly #held: HeldConnection;
  readonly #js: JetStreamClient;
  readonly #target: StreamTarget;
  readonly #window: InFlightWindow;
  readonly #ackTimeout: number;
  readonly #retryFor: number;
  #closing: Promise<void> | undefined;

  /** The last topic that passed validation: a stream sends to the same few topics over and over. */
  #validTopic: string | undefined;

  private constructor(held: HeldConnection, target: StreamTarget, settings: PublisherSettings) {
    this.#held = held;
    this.#target = target;
    this.#ackTimeout = settings.ackTimeout;
    this.#retryFor = settings.retryFor;
    this.#js = jetstream(held.nc, { timeout: this.#ackTimeout });
    this.#window = new InFlightWindow(settings);
  }

  /**
   * Opens a publisher; with `createStream` it also creates the stream when missing.
   * @throws {@link InvalidArgumentError} for an invalid option, before connecting.
   * @throws {@link AbortedError} when `signal` is aborted; nothing stays open.
   * @throws {@link BrokerError} when the server cannot be reached or refuses to create the stream.
   */
  static async create(options: JetStreamPublisherOptions = {}): Promise<JetStreamPublisher> {
    const target = new StreamTarget(options);
    const settings = publisherSettings(options);
    const held = await openConnection(options.connection, options.signal);
    try {
      await target.ensure(held.nc);
      throwIfAborted(options.signal);
    } catch (error) {
      await releaseConnection(held);
      throw error;
    }
    return new JetStreamPublisher(held, target, settings);
  }

  /** Largest message `send` accepts: the server's `max_payload` less the header reserve. */
  get maxMessageSize(): number {
    return maxPayloadOf(this.#held.nc) - JETSTREAM_HEADER_RESERVE;
  }

  /**
   * Stores `message` under `topic` and resolves once the server acknowledged it.
   * @throws {@link InvalidTopicError} for a topic with wildcards, whitespace or empty tokens.
   * @throws {@link MessageTooLargeError} above {@link maxMessageSize}, nothing sent; or above
   *   the stream's own `max_msg_size`, refused by the server and not stored.
   * @throws {@link ClosedError} after {@link close}.
   * @throws {@link BrokerError} when no stream captures the topic, or retries ran out.
   */
  async send(topic: string, message: Uint8Array, options?: JetStreamSendOptions): Promise<void> {
    if (this.#closing !== undefined) throw new ClosedError('JetStreamPublisher');
    if (topic !== this.#validTopic) {
      assertValidTopic(topic);
      this.#validTopic = topic;
    }
    assertMessageSize(message, this.maxMessageSize);
    const given = options?.msgID;
    if (
      given !== undefined &&
      (given.length === 0 || given.length > MAX_ID_LENGTH || /\s/.test(given))
    ) {
      throw new InvalidArgumentError(
        `msgID must be 1 to ${MAX_ID_LENGTH} characters without whitespace`,
      );
    }
    const msgID = given ?? nuid.next();
    const size = message.byteLength;
    // A copy (from Node's buffer pool when small): the caller may reuse its buffer once `send`
    // returned, and the client writes the message on a later tick; unless the caller handed the
    // message over with `{ owned: true }`.
    const copy = bytesToSend(message, options?.owned);
    const wait = this.#window.acquire(size);
    if (wait !== undefined) await wait;
    try {
      await this.#publish(this.#target.subject(topic), copy, msgID);
    } finally {
      this.#window.release(size);
    }
  }

  async #publish(subject: string, data: Uint8Array, msgID: string): Promise<void> {
    const deadline = Date.now() + this.#retryFor;
    let delay = 100;
    let createdStream = false;
    for (;;) {
      try {
        await this.#js.publish(subject, data, { msgID, timeout: this.#ackTimeout });
        return;
      } catch (error) {
        if (this.#held.nc.isClosed()) throw toProxyStreamError(error, `publishing to ${subject}`);
        if (isTooLargeForStream(error)) {
          const limit = await this.#target.maxMessageSize(this.#held.nc);
          throw new MessageTooLargeError(data.byteLength, limit, { cause: error });
        }
        const noStream = (error as { name?: unknown }).name === 'JetStreamNotEnabled';
        if (noStream && this.#target.creates && !createdStream) {
          createdStream = true;
          await this.#target.ensure(this.#held.nc).catch(() => undefined);
          continue;
        }
        if (!isTransient(error) || Date.now() + delay > deadline) {
          throw new BrokerError(
            noStream
              ? `no JetStream stream captures ${subject}: create stream ${this.#target.name} with ` +
                  'ensureStream() or pass createStream, and check that nats-server runs with -js'
              : `publishing to ${subject} failed: ${messageOf(error)}`,
            { cause: error },
          );
        }
        await pause(delay);
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  /** Waits for every send in flight, then closes the connection if the publisher opened it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#window.drained();
      await releaseConnection(this.#held);
    })();
    return this.#closing;
  }

  /** `await using publisher = await JetStreamPublisher.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
