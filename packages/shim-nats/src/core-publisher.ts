import {
  assertMessageSize,
  ClosedError,
  type MessagingAttributes,
  type Publisher,
  type PublishOptions,
} from '@proxystream/protocols';
import { bytesToSend, InFlightWindow, positiveInteger } from '@proxystream/protocols/kit';
import { NATS_MESSAGING } from './capabilities.js';
import {
  type HeldConnection,
  maxPayloadOf,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  toProxyStreamError,
} from './connection.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link NatsPublisher.create}. */
export interface NatsPublisherOptions extends NatsConnectionOptions {
  /**
   * Most messages published but not yet confirmed by a round trip to the server (a flush).
   * When reached, `send` waits: a fast sender cannot fill the client's memory. Default 4096.
   */
  maxInFlightMessages?: number;
  /** Most bytes published but not yet confirmed by a round trip. Default 4 MiB. */
  maxInFlightBytes?: number;
  /** An aborted signal makes {@link NatsPublisher.create} reject with `AbortedError`, opening nothing. */
  signal?: AbortSignal;
}

interface PublisherSettings {
  readonly maxCount: number;
  readonly maxBytes: number;
}

function publisherSettings(options: NatsPublisherOptions): PublisherSettings {
  return {
    maxCount: positiveInteger(options.maxInFlightMessages, 'maxInFlightMessages', 4096),
    maxBytes: positiveInteger(options.maxInFlightBytes, 'maxInFlightBytes', 4 * 1024 * 1024),
  };
}

/**
 * Publishes byte messages with core NATS: fire-and-forget, fan-out to every subscriber of the
 * subject, one member of each queue group. Messages are written in `send` order on one
 * connection, so subscribers see them in that order.
 *
 * `send` resolves once the message is queued for the connection and fits the unflushed window.
 * A send to an idle publisher is handed to the client at once, so it costs no latency; the sends
 * that follow it during the same turn of the event loop are handed over together on the next turn
 * (one socket write instead of one per message). A flush (PING/PONG) confirms what was handed
 * over and frees the window once half of it is in use, so a sender never runs ahead of the server
 * by more than the window, and a sender at a low rate pays no round trip per message.
 * A client error while a send is handed over at once rejects that send; one while queued sends
 * are handed over (a connection that closed in between) fails the next `send` (and `close`).
 * `close()` flushes, so everything sent before it reached the server.
 *
 * @example
 * ```ts
 * await using publisher = await NatsPublisher.create({
 *   connection: { servers: 'nats://127.0.0.1:4222' },
 * });
 * await publisher.send('frames', bytes);
 * ```
 */
export class NatsPublisher implements Publisher, AsyncDisposable {
  /** `{ system: 'nats' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = NATS_MESSAGING;
  readonly #held: HeldConnection;
  readonly #window: InFlightWindow;
  /** Messages (and their bytes) handed to the client and not yet confirmed by a flush. */
  #unflushed = 0;
  #unflushedBytes = 0;
  #flushing = false;
  /** Set by `close`: confirm everything handed over, whatever the window's use. */
  #flushDue = false;
  readonly #flushAtCount: number;
  readonly #flushAtBytes: number;
  /** Accepted by `send`, not yet handed to the client: written together on the next turn. */
  #queued: { topic: string; data: Uint8Array }[] = [];
  #writeScheduled = false;
  /** A publish of queued messages that failed; reported by the next `send` or `close`. */
  #writeError: unknown;
  #closing: Promise<void> | undefined;
  /** The last topic that passed validation: a stream sends to the same few topics over and over. */
  #validTopic: string | undefined;

  private constructor(held: HeldConnection, settings: PublisherSettings) {
    this.#held = held;
    this.#window = new InFlightWindow(settings);
    this.#flushAtCount = Math.ceil(settings.maxCount / 2);
    this.#flushAtBytes = Math.ceil(settings.maxBytes / 2);
  }

  /**
   * Opens a publisher on the caller's connection or on a connection of its own.
   * @throws {@link InvalidArgumentError} for an invalid option, before connecting.
   * @throws {@link AbortedError} when `signal` is aborted; nothing stays open.
   * @throws {@link BrokerError} when the server cannot be reached.
   */
  static async create(options: NatsPublisherOptions = {}): Promise<NatsPublisher> {
    const settings = publisherSettings(options);
    return new NatsPublisher(await openConnection(options.connection, options.signal), settings);
  }

  /** Largest message `send` accepts: the connected server's `max_payload`. */
  get maxMessageSize(): number {
    return maxPayloadOf(this.#held.nc);
  }

  /**
   * Publishes `message` to the subject `topic`: a copy of it, written on a later tick, unless
   * the caller handed it over with `{ owned: true }` (then the message itself).
   * @throws {@link InvalidTopicError} for a topic with wildcards, whitespace or empty tokens.
   * @throws {@link MessageTooLargeError} above the server's `max_payload`; nothing is sent.
   * @throws {@link ClosedError} after {@link close}.
   */
  async send(topic: string, message: Uint8Array, options?: PublishOptions): Promise<void> {
    if (this.#closing !== undefined) throw new ClosedError('NatsPublisher');
    this.#throwWriteError();
    if (topic !== this.#validTopic) {
      assertValidTopic(topic);
      this.#validTopic = topic;
    }
    assertMessageSize(message, this.maxMessageSize);
    const size = message.byteLength;
    // The client queues a reference and writes it on a later tick: copy so the caller may reuse
    // its buffer as soon as send returns, unless it handed the message over. `Buffer.allocUnsafe`
    // takes small copies from Node's buffer pool instead of allocating an ArrayBuffer per
    // message; the client drops the reference once it packed the message into its outbound buffer.
    const copy = bytesToSend(message, options?.owned);
    const wait = this.#window.acquire(size);
    if (wait !== undefined) {
      this.#flushIfDue();
      await wait;
    }
    const nc = this.#held.nc;
    if (nc.isClosed() || nc.isDraining()) {
      this.#window.release(size);
      // The client's own error for a publish on a closed or draining connection.
      try {
        nc.publish(topic, copy);
      } catch (error) {
        throw toProxyStreamError(error, `publishing to "${topic}"`);
      }
      throw new ClosedError(`the NATS connection used for publishing to "${topic}"`);
    }
    if (this.#writeScheduled) {
      this.#queued.push({ topic, data: copy });
      return;
    }
    // Idle: hand it over now (the client writes it in a microtask) and gather the sends that
    // follow in this turn for one write on the next. A client error here is this send's.
    try {
      nc.publish(topic, copy);
    } catch (error) {
      this.#window.release(size);
      throw toProxyStreamError(error, `publishing to "${topic}"`);
    }
    this.#writeScheduled = true;
    setImmediate(this.#write);
    this.#handedOver(size);
    this.#flushIfDue();
  }

  /** Flushes every message sent so far to the server, then closes the connection if the publisher opened it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#flushDue = true;
      if (!this.#writeScheduled) this.#flushIfDue();
      await this.#window.drained();
      await releaseConnection(this.#held);
      this.#throwWriteError();
    })();
    return this.#closing;
  }

  /** `await using publisher = await NatsPublisher.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #throwWriteError(): void {
    const error = this.#writeError;
    if (error === undefined) return;
    this.#writeError = undefined;
    throw toProxyStreamError(error, 'publishing queued messages');
  }

  /** Hands every queued message to the client in one go, then lets the flush loop confirm them. */
  readonly #write = (): void => {
    this.#writeScheduled = false;
    const queued = this.#queued;
    if (queued.length > 0) {
      this.#queued = [];
      const nc = this.#held.nc;
      for (const { topic, data } of queued) this.#publish(nc, topic, data);
    }
    this.#flushIfDue();
  };

  /** Publishes a queued message; an error waits for the next `send` or `close`. */
  #publish(nc: HeldConnection['nc'], topic: string, data: Uint8Array): void {
    try {
      if (this.#writeError === undefined) nc.publish(topic, data);
    } catch (error) {
      this.#writeError = error;
    }
    this.#handedOver(data.byteLength);
  }

  /** Counts a message handed to the client: confirmed (and its room freed) by the next flush. */
  #handedOver(size: number): void {
    this.#unflushed++;
    this.#unflushedBytes += size;
  }

  /**
   * Starts the flush loop once half the window is handed over but unconfirmed (then a send may
   * soon wait for it), when a send waits for room, or when `close` asked for everything to be
   * confirmed.
   */
  #flushIfDue(): void {
    if (this.#flushing || this.#unflushed === 0 || !this.#isFlushDue()) return;
    void this.#flushLoop();
  }

  #isFlushDue(): boolean {
    return (
      this.#flushDue ||
      this.#window.waiting > 0 ||
      this.#unflushed >= this.#flushAtCount ||
      this.#unflushedBytes >= this.#flushAtBytes
    );
  }

  async #flushLoop(): Promise<void> {
    this.#flushing = true;
    while (this.#unflushed > 0 && this.#isFlushDue()) {
      const count = this.#unflushed;
      const bytes = this.#unflushedBytes;
      this.#unflushed = 0;
      this.#unflushedBytes = 0;
      try {
        await this.#held.nc.flush();
      } catch {
        // A closed connection flushes nothing more; the window must still drain so close() ends.
      }
      this.#window.release(bytes, count);
    }
    this.#flushing = false;
  }
}
