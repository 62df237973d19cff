import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  ClosedError,
  type MessagingAttributes,
  type Publisher,
  type PublishOptions,
} from '@proxystream/protocols';
import {
  InFlightWindow,
  nonNegative,
  positiveInteger,
  positiveNumber,
  settledWithin,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import {
  type BrokerNotice,
  connectLink,
  type DataMessage,
  type DirectLink,
  type Ownership,
  ownsWholeBuffer,
  ThreadsBroker,
  type ThreadsConnection,
} from './threads-broker.js';
import { assertValidTopic, threadsMessaging } from './threads-topic.js';

/** Options of {@link ThreadsPublisher.create}. */
export interface ThreadsPublisherOptions {
  /** The broker: the {@link ThreadsBroker} itself in its thread, its handle in another. Never closed by the publisher. */
  connection: ThreadsConnection;
  /**
   * Move each message's buffer to the broker instead of copying it: the caller gives the buffer
   * up (after `send` its `ArrayBuffer` is detached, `byteLength` 0) and no byte is copied on the
   * way to a single subscriber. Only a `Uint8Array` that views the whole of a plain `ArrayBuffer`
   * can be moved; any other (a slice of Node's `Buffer` pool, a `SharedArrayBuffer` view) is
   * copied as without this option. Default `false`: `send` copies, the caller may reuse its buffer.
   */
  transfer?: boolean;
  /** Messages sent and not yet delivered by the broker before `send` waits. Default 1 024. */
  maxInFlightMessages?: number;
  /** Bytes sent and not yet delivered before `send` waits (a larger message goes alone). Default 64 MiB. */
  maxInFlightBytes?: number;
  /** How long `close()` waits for messages in flight to be delivered, in ms. Default 10 000. */
  closeTimeoutMs?: number;
  /** How long `create` waits for the broker to answer, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** An already-aborted signal makes `create` reject with `AbortedError`, opening nothing. */
  signal?: AbortSignal;
}

const MiB = 1024 * 1024;

/**
 * Publishes byte messages to a {@link ThreadsBroker} from any thread of its process, over a
 * `MessagePort` of its own; in the broker's own thread (`connection` is the broker itself), by a
 * function call into the broker instead, which saves a port hop per message. `send` resolves once
 * the message is posted and the publisher's window has room; the broker acknowledges each message
 * once it has delivered it, so a subscriber that stops reading makes `send` wait (backpressure).
 * Messages of one publisher to one topic arrive in order.
 *
 * @example
 * ```ts
 * // in a worker given `handle = broker.handle()` through workerData (port in transferList):
 * await using publisher = await ThreadsPublisher.create({ connection: workerData.broker });
 * await publisher.send('frames', new Uint8Array([1, 2, 3]));
 * ```
 */
export class ThreadsPublisher implements Publisher {
  /** `{ system: 'proxystream.threads' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = threadsMessaging;
  readonly #port: MessagePort;
  readonly #broker: MessagePort;
  readonly #window: InFlightWindow;
  readonly #transfer: boolean;
  readonly #closeTimeoutMs: number;
  readonly #ready: Promise<void>;
  #onReady: (() => void) | undefined;
  #onGone: ((error: Error) => void) | undefined;
  /** Messages posted and not acknowledged, and their bytes (to give back when the broker goes). */
  #unacked = 0;
  #unackedBytes = 0;
  /** Whether the port keeps the thread alive (while messages are unacknowledged). */
  #held = false;
  /** The broker's own thread: messages go to it by call. */
  readonly #direct: DirectLink | undefined;
  #gone: Error | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Connects a publisher; resolves once the broker registered it.
   * @throws {@link InvalidArgumentError} for an invalid option or connection.
   * @throws {@link ClosedError} when the broker is closed; {@link TimeoutError} when it does not answer.
   * @throws {@link AbortedError} when `signal` is (or becomes) aborted meanwhile.
   */
  static async create(options: ThreadsPublisherOptions): Promise<ThreadsPublisher> {
    const publisher = new ThreadsPublisher(options);
    const timeoutMs = positiveNumber(options.connectTimeoutMs, 'connectTimeoutMs', 10_000);
    try {
      throwIfAborted(options.signal);
      await connectLink(
        options.connection,
        { k: 'pub', port: publisher.#broker, direct: publisher.#direct },
        publisher.#ready,
        {
          signal: options.signal,
          timeoutMs,
          what: 'ThreadsPublisher',
        },
      );
      throwIfAborted(options.signal);
    } catch (error) {
      publisher.#port.close();
      throw error;
    }
    return publisher;
  }

  private constructor(options: ThreadsPublisherOptions) {
    this.#window = new InFlightWindow({
      maxCount: positiveInteger(options.maxInFlightMessages, 'maxInFlightMessages', 1024),
      maxBytes: positiveInteger(options.maxInFlightBytes, 'maxInFlightBytes', 64 * MiB),
    });
    this.#closeTimeoutMs = nonNegative(options.closeTimeoutMs, 'closeTimeoutMs', 10_000);
    this.#transfer = options.transfer === true;
    this.#direct =
      options.connection instanceof ThreadsBroker
        ? { acknowledged: (count, bytes) => this.#acknowledged(count, bytes) }
        : undefined;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#broker = port2;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      this.#onGone = reject;
    });
    this.#ready.catch(() => undefined);
    port1.on('message', this.#onMessage);
    port1.on('close', () => this.#goneAway(new ClosedError('ThreadsBroker (its port closed)')));
    port1.unref();
  }

  /**
   * Sends `message` to every subscriber of `topic` (one member per group). Without `transfer`
   * the bytes are copied before the promise is returned, unless the caller hands the message over
   * with `{ owned: true }` (as `StreamProducer` does with its envelopes): then it is moved like
   * with `transfer`.
   * @throws {@link InvalidTopicError} for a topic {@link assertValidTopic} rejects.
   * @throws {@link ClosedError} after `close()`, or once the broker closed.
   */
  async send(topic: string, message: Uint8Array, options?: PublishOptions): Promise<void> {
    if (this.#closing !== undefined) throw new ClosedError('ThreadsPublisher');
    assertValidTopic(topic);
    if (this.#gone !== undefined) throw this.#gone;
    const size = message.byteLength;
    const move = this.#transfer || options?.owned === true;
    const wait = this.#window.acquire(size);
    if (wait === undefined) {
      this.#post(topic, message, move);
      // The broker of this thread closed before the message could reach it.
      if (this.#gone !== undefined) throw this.#gone;
      return;
    }
    // The caller may reuse `message` once this returns: copy it now unless it was given up.
    const payload = move ? message : new Uint8Array(message);
    await wait;
    if (this.#gone !== undefined) {
      this.#window.release(size);
      throw this.#gone;
    }
    this.#post(topic, payload, true);
    if (this.#gone !== undefined) throw this.#gone;
  }

  /**
   * Waits (at most `closeTimeoutMs`) until the broker delivered every accepted message, then
   * closes the port. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await settledWithin(this.#window.drained(), this.#closeTimeoutMs);
      this.#port.close();
    })();
    return this.#closing;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #post(topic: string, bytes: Uint8Array, move: boolean): void {
    this.#unacked++;
    this.#unackedBytes += bytes.byteLength;
    const route = this.#direct?.route;
    if (route !== undefined) {
      this.#route(route, topic, bytes, move);
      return;
    }
    this.#hold();
    if (ownsWholeBuffer(bytes)) {
      if (move) {
        try {
          this.#port.postMessage({ t: topic, d: bytes } satisfies DataMessage, [bytes.buffer]);
          return;
        } catch {
          // A buffer marked untransferable: copied below instead.
        }
      }
      // Structured clone copies exactly the viewed bytes here.
      this.#port.postMessage({ t: topic, d: bytes } satisfies DataMessage);
      return;
    }
    // A view of a larger buffer: clone would copy all of it; copy the view and move the copy.
    const copy = new Uint8Array(bytes);
    this.#port.postMessage({ t: topic, d: copy } satisfies DataMessage, [copy.buffer]);
  }

  /**
   * Hands a message to the broker of this thread. A view of a larger buffer is copied first (the
   * broker would otherwise copy all of that buffer to the subscriber). Only with `transfer` is
   * the caller's buffer to be detached; a message handed over (`owned`, or a copy made here) is
   * kept as it is. A message the broker delivered at once is already acknowledged when this
   * returns; one it keeps holds the thread.
   */
  #route(
    route: NonNullable<DirectLink['route']>,
    topic: string,
    bytes: Uint8Array,
    move: boolean,
  ): void {
    let ownership: Ownership = !move ? 'borrowed' : this.#transfer ? 'moved' : 'given';
    let data = bytes;
    if (!ownsWholeBuffer(bytes)) {
      data = new Uint8Array(bytes);
      ownership = 'given';
    }
    if (!route(topic, data, ownership)) {
      this.#goneAway(new ClosedError('ThreadsBroker (closed)'));
      return;
    }
    if (this.#unacked > 0) this.#hold();
  }

  /** Keeps the thread alive while messages wait for the broker's acknowledgement. */
  #hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#port.ref();
  }

  readonly #onMessage = (notice: BrokerNotice): void => {
    if (notice.k === 'ack') this.#acknowledged(notice.n, notice.b);
    else if (notice.k === 'ready') this.#onReady?.();
    else if (notice.k === 'bye') this.#goneAway(new ClosedError('ThreadsBroker (closed)'));
  };

  #acknowledged(count: number, bytes: number): void {
    this.#unacked -= count;
    this.#unackedBytes -= bytes;
    this.#window.release(bytes, count);
    if (this.#unacked === 0 && this.#held) {
      this.#held = false;
      this.#port.unref();
    }
  }

  #goneAway(error: Error): void {
    if (this.#gone !== undefined) return;
    this.#gone = error;
    this.#onGone?.(error);
    // Nothing more will be acknowledged: free the window so waiting sends reject, close drains.
    if (this.#unacked > 0) this.#acknowledged(this.#unacked, this.#unackedBytes);
    this.#port.close();
  }
}
