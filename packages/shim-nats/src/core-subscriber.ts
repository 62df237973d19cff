import type { Msg, Subscription } from '@nats-io/transport-node';
import {
  BrokerError,
  InvalidArgumentError,
  MessageQueue,
  MessagesLostError,
  type SubscribeOptions,
  type Subscriber,
  throwIfAborted,
} from '@proxystream/protocols';
import {
  type HeldConnection,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  toProxyStreamError,
} from './connection.js';
import { watchStatus } from './connection-status.js';
import { assertValidName, assertValidTopic } from './topic.js';

/** Options of {@link NatsSubscriber.create}. */
export interface NatsSubscriberOptions extends NatsConnectionOptions, SubscribeOptions {
  /**
   * Messages received but not yet read, beyond which new messages are dropped (and the loss
   * reported). Default 65 536.
   */
  maxPendingMessages?: number;
  /** Bytes received but not yet read, beyond which new messages are dropped (and reported). Default 8 MiB. */
  maxPendingBytes?: number;
}

/**
 * A place in the stream where messages went missing. It waits in the queue behind the messages
 * received before the loss, so that `next()` throws exactly there, also when nobody was reading
 * when it happened.
 */
class Loss {
  dropped = 0;
  constructor(readonly reason: 'overflow' | 'disconnect') {}

  error(): MessagesLostError {
    return this.reason === 'overflow'
      ? new MessagesLostError(
          `${this.dropped} message(s) dropped: the subscriber read too slowly and its pending ` +
            'limit (maxPendingMessages / maxPendingBytes) was reached; read faster or raise the limits',
        )
      : new MessagesLostError(
          'the connection to the NATS server was lost; core NATS does not keep messages, so ' +
            'those published until it reconnected were not delivered (use JetStream to keep them)',
        );
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Receives the byte messages of one topic with core NATS. Without `group` every subscriber gets
 * every message (fan-out); subscribers with the same `group` form a NATS queue group and share
 * the messages, each going to one member.
 *
 * Core NATS keeps nothing: a message published while no subscriber exists, while the
 * connection is down, or when a subscriber falls too far behind is lost. The last two are
 * reported: `next()` rejects with {@link MessagesLostError} once per loss, at the point of the
 * loss (after the messages received before it, even if nobody was reading at the time), and a
 * further `next()` goes on with the messages after it. A broken connection always counts as a
 * loss, so a lost end-of-stream is reported rather than waited for.
 *
 * @example
 * ```ts
 * const subscriber = await NatsSubscriber.create('frames', { servers: 'nats://127.0.0.1:4222' });
 * for await (const message of subscriber) handle(message);
 * ```
 */
export class NatsSubscriber implements Subscriber, AsyncIterableIterator<Uint8Array> {
  readonly #held: HeldConnection;
  readonly #queue: MessageQueue<Uint8Array | Loss>;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #subscription: Subscription | undefined;
  #unwatch: (() => void) | undefined;
  /** Messages (not loss markers) and their bytes received but not yet read. */
  #pendingMessages = 0;
  #pendingBytes = 0;
  /** The loss marker still in the queue, which further drops are added to. */
  #openLoss: Loss | undefined;

  private constructor(held: HeldConnection, options: NatsSubscriberOptions) {
    this.#held = held;
    this.#maxMessages = positive('maxPendingMessages', options.maxPendingMessages, 65_536);
    this.#maxBytes = positive('maxPendingBytes', options.maxPendingBytes, 8 * 1024 * 1024);
    this.#queue = new MessageQueue<Uint8Array | Loss>({
      capacity: this.#maxMessages,
      signal: options.signal,
      onClose: () => this.#release(),
    });
  }

  /**
   * Subscribes to `topic`; the subscription is registered with the server when the promise
   * resolves, so a message published after that is received.
   * @throws {@link InvalidTopicError} for a topic with wildcards, whitespace or empty tokens.
   * @throws {@link BrokerError} when the server cannot be reached.
   */
  static async create(topic: string, options: NatsSubscriberOptions = {}): Promise<NatsSubscriber> {
    assertValidTopic(topic);
    if (options.group !== undefined) assertValidName('queue group', options.group);
    positive('maxPendingMessages', options.maxPendingMessages, 1);
    positive('maxPendingBytes', options.maxPendingBytes, 1);
    throwIfAborted(options.signal);
    const held = await openConnection(options);
    const subscriber = new NatsSubscriber(held, options);
    try {
      await subscriber.#subscribe(topic, options.group);
    } catch (error) {
      await subscriber.close();
      throw toProxyStreamError(error, `subscribing to "${topic}"`);
    }
    return subscriber;
  }

  async #subscribe(topic: string, group: string | undefined): Promise<void> {
    const nc = this.#held.nc;
    this.#unwatch = watchStatus(nc, (status) => {
      if (status.type === 'disconnect') this.#lost('disconnect');
    });
    this.#subscription = nc.subscribe(topic, {
      ...(group === undefined ? {} : { queue: group }),
      callback: (error, msg) => this.#receive(error, msg),
    });
    await nc.flush();
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error !== null) {
      this.#queue.fail(
        new BrokerError(`the subscription failed: ${error.message}`, { cause: error }),
      );
      return;
    }
    let data = msg.data;
    const size = data.byteLength;
    if (this.#pendingMessages >= this.#maxMessages || this.#pendingBytes + size > this.#maxBytes) {
      this.#lost('overflow');
      return;
    }
    // A small message is a view of the whole socket read: copy it so that holding it does not
    // hold the read buffer, and the pending byte count stays true.
    if (data.buffer.byteLength > size * 2) data = data.slice();
    this.#pendingMessages++;
    this.#pendingBytes += size;
    // A message behind the marker: a later drop is a new loss, thrown after this message (else
    // a drop of the last messages, the end of a stream, would be reported before messages that
    // came ahead of it, and the reader would then wait for ever at the end).
    this.#openLoss = undefined;
    this.#queue.push(data);
  }

  #lost(reason: 'overflow' | 'disconnect'): void {
    let loss = this.#openLoss;
    if (loss === undefined || loss.reason !== reason) {
      loss = new Loss(reason);
      this.#openLoss = loss;
      this.#queue.push(loss);
    }
    loss.dropped++;
  }

  /**
   * The next message. Rejects with {@link MessagesLostError} where messages were lost; calling
   * `next()` again goes on after the loss.
   */
  async next(): Promise<IteratorResult<Uint8Array>> {
    const result = await this.#queue.next();
    if (result.done === true) return result;
    const value = result.value;
    if (value instanceof Loss) {
      if (this.#openLoss === value) this.#openLoss = undefined;
      throw value.error();
    }
    this.#pendingMessages--;
    this.#pendingBytes -= value.byteLength;
    return { done: false, value };
  }

  /** Called by `break` in `for await`: closes the subscriber. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    await this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the iteration, unsubscribes, and closes the connection if the subscriber opened it. */
  close(): Promise<void> {
    return this.#queue.close();
  }

  async #release(): Promise<void> {
    this.#unwatch?.();
    if (this.#subscription !== undefined && !this.#held.nc.isClosed()) {
      this.#subscription.unsubscribe();
    }
    this.#pendingMessages = 0;
    this.#pendingBytes = 0;
    await releaseConnection(this.#held);
  }
}
