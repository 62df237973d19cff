import {
  BrokerError,
  MessagesLostError,
  type MessagingAttributes,
  type Subscriber,
} from '@proxystream/protocols';
import { QueueSubscriber, throwIfAborted } from '@proxystream/protocols/kit';
import { Subscriber as SubSocket } from 'zeromq';
import { ZMQ_MESSAGING } from './capabilities.js';
import { decodeFrame, SequenceTracker, topicFrame } from './framing.js';
import { attach, endpointsOf } from './options.js';
import { type ReceiverSettings, receiverSettings, type ZmqReceiverOptions } from './receiver.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link ZmqSubscriber.create}: where it binds or connects, its buffer, `onLoss`. */
export interface ZmqSubscriberOptions extends ZmqReceiverOptions {}

/**
 * A ZeroMQ SUB socket subscribed to exactly one topic (`a` does not receive `ab`: the topic part
 * ends with NUL and is compared whole). It reads continuously; messages lost on the way (the
 * publisher's high-water mark, a reconnect) or because its own buffer was full are reported by
 * the loss rule: `next()` rejects with `MessagesLostError` once per loss, at its place, and goes
 * on after it; `onLoss` is called when drops begin.
 *
 * @example
 * ```ts
 * const subscriber = await ZmqSubscriber.create('frames', { connect: 'tcp://127.0.0.1:5555' });
 * for await (const message of subscriber) console.log(message.byteLength);
 * ```
 */
export class ZmqSubscriber extends QueueSubscriber<Buffer> implements Subscriber {
  /** `{ system: 'zeromq' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = ZMQ_MESSAGING;
  /** The endpoints the socket is bound to (system-chosen ports filled in) and connected to. */
  readonly endpoints: readonly string[];
  readonly #topic: string;
  readonly #frame: Buffer;
  readonly #socket: SubSocket;
  readonly #maxBytes: number;
  readonly #sequences = new SequenceTracker();
  #bytes = 0;

  /**
   * Opens a SUB socket, binds and connects it and subscribes to `topic`. Resolves once bound and
   * subscribed; a publisher this subscriber connects to (or that connects to it) sends it what
   * follows once the subscription reached it (ZeroMQ's "slow joiner": a few milliseconds).
   * @throws `InvalidTopicError`, `InvalidArgumentError`, `AbortedError`, `BrokerError`.
   */
  static async create(topic: string, options: ZmqSubscriberOptions = {}): Promise<ZmqSubscriber> {
    assertValidTopic(topic);
    const settings = receiverSettings(options);
    const endpoints = endpointsOf(options);
    throwIfAborted(options.signal);
    const socket = new SubSocket({
      ...(options.context === undefined ? {} : { context: options.context }),
      receiveHighWaterMark: settings.receiveHighWaterMark,
      maxMessageSize: settings.maxFrameSize,
      linger: 0,
      receiveBufferSize: settings.receiveBufferSize,
    });
    const frame = topicFrame(topic);
    socket.subscribe(frame);
    const attached = await attach(socket, endpoints, options.signal);
    const subscriber = new ZmqSubscriber(topic, frame, socket, attached, settings, options);
    void subscriber.#read();
    return subscriber;
  }

  private constructor(
    topic: string,
    frame: Buffer,
    socket: SubSocket,
    endpoints: readonly string[],
    settings: ReceiverSettings,
    options: ZmqSubscriberOptions,
  ) {
    super({
      capacity: settings.maxBufferedMessages,
      signal: options.signal,
      onLoss: options.onLoss,
    });
    this.#topic = topic;
    this.#frame = frame;
    this.#socket = socket;
    this.endpoints = Object.freeze([...endpoints]);
    this.#maxBytes = settings.maxBufferedBytes;
  }

  async #read(): Promise<void> {
    const socket = this.#socket;
    while (!this.closed) {
      let parts: Buffer[];
      try {
        parts = await socket.receive();
      } catch (error) {
        if (this.closed || socket.closed) return;
        const reason = error instanceof Error ? error.message : String(error);
        this.fail(new BrokerError(`ZeroMQ receive failed: ${reason}`, { cause: error }));
        return;
      }
      this.#accept(parts);
    }
  }

  #accept(parts: Buffer[]): void {
    const frame = decodeFrame(parts);
    if (typeof frame === 'string') {
      this.lose(
        'malformed',
        (n) =>
          new MessagesLostError(
            `${n} message(s) of topic ${JSON.stringify(this.#topic)} dropped: ${frame}`,
          ),
      );
      return;
    }
    // Exact match: the subscription is a prefix; only the whole topic part is ours.
    if (!frame.topic.equals(this.#frame)) return;
    const gap = this.#sequences.gap(frame.publisher, frame.sequence);
    if (gap > 0) this.lose('dropped', this.#lost, gap);
    const size = frame.payload.byteLength;
    if (this.full || (this.buffered > 0 && this.#bytes + size > this.#maxBytes)) {
      this.lose('dropped', this.#lost);
      return;
    }
    this.#bytes += size;
    this.push(frame.payload);
  }

  readonly #lost = (dropped: number): MessagesLostError =>
    new MessagesLostError(
      `${dropped} message(s) of topic ${JSON.stringify(this.#topic)} lost: the subscriber read slower ` +
        'than the publisher sent (the ZeroMQ high-water mark or maxBufferedMessages/maxBufferedBytes ' +
        'was reached) or was disconnected; read faster or raise those limits',
    );

  protected taken(item: Buffer): Uint8Array {
    this.#bytes -= item.byteLength;
    return item;
  }

  protected release(): void {
    this.#socket.close();
  }
}
