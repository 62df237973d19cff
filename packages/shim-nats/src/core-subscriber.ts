import type { Msg, Subscription } from '@nats-io/transport-node';
import {
  AbortedError,
  BrokerError,
  MessagesLostError,
  type MessagingAttributes,
  type SubscribeOptions,
  type Subscriber,
} from '@proxystream/protocols';
import { type LossReporting, positiveInteger, QueueSubscriber } from '@proxystream/protocols/kit';
import { NATS_MESSAGING } from './capabilities.js';
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
export interface NatsSubscriberOptions
  extends NatsConnectionOptions,
    SubscribeOptions,
    LossReporting {
  /**
   * Messages received but not yet read, beyond which new messages are dropped (and the loss
   * reported). Default 65 536.
   */
  maxBufferedMessages?: number;
  /** Bytes received but not yet read, beyond which new messages are dropped (and reported). Default 8 MiB. */
  maxBufferedBytes?: number;
}

interface SubscriberSettings {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

const overflow = (dropped: number): MessagesLostError =>
  new MessagesLostError(
    `${dropped} message(s) dropped: the subscriber read too slowly and its buffer limit ` +
      '(maxBufferedMessages / maxBufferedBytes) was reached; read faster or raise the limits',
  );

const disconnected = (): MessagesLostError =>
  new MessagesLostError(
    'the connection to the NATS server was lost; core NATS does not keep messages, so ' +
      'those published until it reconnected were not delivered (use JetStream to keep them)',
  );

/**
 * Receives the byte messages of one topic with core NATS. Without `group` every subscriber gets
 * every message (fan-out); subscribers with the same `group` form a NATS queue group and share
 * the messages, each going to one member.
 *
 * Core NATS keeps nothing: a message published while no subscriber exists, while the
 * connection is down, or when a subscriber falls too far behind is lost. The last two are
 * reported by the one loss rule of fan-out subscribers (`LossReporting` in
 * `@proxystream/protocols/kit`): `next()` rejects with {@link MessagesLostError} once per loss,
 * at the point of the loss (after the messages received before it, even if nobody was reading
 * at the time), a further `next()` goes on with the messages after it, and `onLoss` is called
 * when the drops begin. A broken connection always counts as a loss, so a lost end-of-stream is
 * reported rather than waited for.
 *
 * @example
 * ```ts
 * await using subscriber = await NatsSubscriber.create('frames', {
 *   connection: { servers: 'nats://127.0.0.1:4222' },
 * });
 * for await (const message of subscriber) handle(message);
 * ```
 */
export class NatsSubscriber extends QueueSubscriber<Uint8Array> implements Subscriber {
  /** `{ system: 'nats' }`, with `group` for a member of a queue group. */
  readonly messaging: MessagingAttributes;
  readonly #held: HeldConnection;
  readonly #settings: SubscriberSettings;
  #subscription: Subscription | undefined;
  #unwatch: (() => void) | undefined;
  /**
   * Messages and bytes received and not yet taken by the reader. Counted here rather than from
   * the queue: a message handed straight to a waiting `next()` still counts until the reader
   * took it, so a burst delivered in one socket read is judged against the limit as a whole.
   */
  #bufferedMessages = 0;
  #bufferedBytes = 0;

  private constructor(
    held: HeldConnection,
    settings: SubscriberSettings,
    options: NatsSubscriberOptions,
  ) {
    super({ capacity: settings.maxMessages, signal: options.signal, onLoss: options.onLoss });
    const group = options.group;
    this.messaging =
      group === undefined ? NATS_MESSAGING : Object.freeze({ ...NATS_MESSAGING, group });
    this.#held = held;
    this.#settings = settings;
  }

  /**
   * Subscribes to `topic`; the subscription is registered with the server when the promise
   * resolves, so a message published after that is received.
   * @throws {@link InvalidTopicError} for a topic with wildcards, whitespace or empty tokens.
   * @throws {@link InvalidArgumentError} for an invalid option, before connecting.
   * @throws {@link AbortedError} when `signal` is aborted before the subscriber is ready; nothing stays open.
   * @throws {@link BrokerError} when the server cannot be reached.
   */
  static async create(topic: string, options: NatsSubscriberOptions = {}): Promise<NatsSubscriber> {
    assertValidTopic(topic);
    if (options.group !== undefined) assertValidName('queue group', options.group);
    const settings: SubscriberSettings = {
      maxMessages: positiveInteger(options.maxBufferedMessages, 'maxBufferedMessages', 65_536),
      maxBytes: positiveInteger(options.maxBufferedBytes, 'maxBufferedBytes', 8 * 1024 * 1024),
    };
    const held = await openConnection(options.connection, options.signal);
    const subscriber = new NatsSubscriber(held, settings, options);
    try {
      await subscriber.#subscribe(topic, options.group);
    } catch (error) {
      await subscriber.close();
      throw toProxyStreamError(error, `subscribing to "${topic}"`);
    }
    if (options.signal?.aborted) {
      await subscriber.close();
      throw new AbortedError();
    }
    return subscriber;
  }

  async #subscribe(topic: string, group: string | undefined): Promise<void> {
    const nc = this.#held.nc;
    this.#unwatch = watchStatus(nc, (status) => {
      if (status.type === 'disconnect') this.lose('disconnect', disconnected);
    });
    this.#subscription = nc.subscribe(topic, {
      ...(group === undefined ? {} : { queue: group }),
      callback: (error, msg) => this.#receive(error, msg),
    });
    await nc.flush();
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error !== null) {
      this.fail(new BrokerError(`the subscription failed: ${error.message}`, { cause: error }));
      return;
    }
    let data = msg.data;
    const size = data.byteLength;
    if (
      this.#bufferedMessages >= this.#settings.maxMessages ||
      this.#bufferedBytes + size > this.#settings.maxBytes
    ) {
      this.lose('overflow', overflow);
      return;
    }
    // A small message is a view of the whole socket read: copy it so that holding it does not
    // hold the read buffer, and the buffered byte count stays true.
    if (data.buffer.byteLength > size * 2) data = data.slice();
    if (!this.push(data)) return;
    this.#bufferedMessages++;
    this.#bufferedBytes += size;
  }

  protected taken(data: Uint8Array): Uint8Array {
    this.#bufferedMessages--;
    this.#bufferedBytes -= data.byteLength;
    return data;
  }

  /** Unsubscribes, and closes the connection if the subscriber opened it. */
  protected async release(): Promise<void> {
    this.#unwatch?.();
    if (this.#subscription !== undefined && !this.#held.nc.isClosed()) {
      this.#subscription.unsubscribe();
    }
    this.#bufferedMessages = 0;
    this.#bufferedBytes = 0;
    await releaseConnection(this.#held);
  }
}
