import {
  BrokerError,
  MessagesLostError,
  type MessagingAttributes,
  type Subscriber,
} from '@proxystream/protocols';
import { QueueSubscriber, throwIfAborted } from '@proxystream/protocols/kit';
import { Pull } from 'zeromq';
import { ZMQ_MESSAGING } from './capabilities.js';
import { decodeFrame, topicFrame } from './framing.js';
import { attach, endpointsOf } from './options.js';
import { type ReceiverSettings, receiverSettings, type ZmqReceiverOptions } from './receiver.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link ZmqPullSubscriber.create}: where it binds or connects, and its buffer. */
export interface ZmqPullSubscriberOptions extends ZmqReceiverOptions {}

/**
 * A ZeroMQ PULL socket as a proxystream subscriber: one of the competing consumers of a
 * {@link ZmqPushPublisher}'s messages. It reads only while its buffer has room, so a slow reader
 * fills the high-water marks and makes the publisher's `send` wait (backpressure), and nothing is
 * dropped. A message of another topic (a pipe shared by topics) is dropped and reported like a
 * loss (`MessagesLostError` at its place, `onLoss`).
 *
 * @example
 * ```ts
 * const jobs = await ZmqPullSubscriber.create('jobs', { connect: 'tcp://127.0.0.1:5557' });
 * for await (const job of jobs) console.log(new TextDecoder().decode(job));
 * ```
 */
export class ZmqPullSubscriber extends QueueSubscriber<Buffer> implements Subscriber {
  /** `{ system: 'zeromq' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = ZMQ_MESSAGING;
  /** The endpoints the socket is bound to (system-chosen ports filled in) and connected to. */
  readonly endpoints: readonly string[];
  readonly #topic: string;
  readonly #frame: Buffer;
  readonly #socket: Pull;
  readonly #maxBytes: number;
  #bytes = 0;
  #room: (() => void) | undefined;

  /**
   * Opens a PULL socket, binds and connects it. Resolves once bound (connects go on in the
   * background; a push publisher waits for them).
   * @throws `InvalidTopicError`, `InvalidArgumentError`, `AbortedError`, `BrokerError`.
   */
  static async create(
    topic: string,
    options: ZmqPullSubscriberOptions = {},
  ): Promise<ZmqPullSubscriber> {
    assertValidTopic(topic);
    const settings = receiverSettings(options);
    const endpoints = endpointsOf(options);
    throwIfAborted(options.signal);
    const socket = new Pull({
      ...(options.context === undefined ? {} : { context: options.context }),
      receiveHighWaterMark: settings.receiveHighWaterMark,
      maxMessageSize: settings.maxFrameSize,
      linger: 0,
      receiveBufferSize: settings.receiveBufferSize,
    });
    const attached = await attach(socket, endpoints, options.signal);
    const subscriber = new ZmqPullSubscriber(topic, socket, attached, settings, options);
    void subscriber.#read();
    return subscriber;
  }

  private constructor(
    topic: string,
    socket: Pull,
    endpoints: readonly string[],
    settings: ReceiverSettings,
    options: ZmqPullSubscriberOptions,
  ) {
    super({
      capacity: settings.maxBufferedMessages,
      signal: options.signal,
      onLoss: options.onLoss,
    });
    this.#topic = topic;
    this.#frame = topicFrame(topic);
    this.#socket = socket;
    this.endpoints = Object.freeze([...endpoints]);
    this.#maxBytes = settings.maxBufferedBytes;
  }

  async #read(): Promise<void> {
    const socket = this.#socket;
    while (!this.closed) {
      if (this.#bytes > this.#maxBytes) {
        await new Promise<void>((resolve) => {
          this.#room = resolve;
        });
        continue;
      }
      let parts: Buffer[];
      try {
        parts = await socket.receive();
      } catch (error) {
        if (this.closed || socket.closed) return;
        const reason = error instanceof Error ? error.message : String(error);
        this.fail(new BrokerError(`ZeroMQ receive failed: ${reason}`, { cause: error }));
        return;
      }
      const frame = decodeFrame(parts);
      if (typeof frame === 'string' || !frame.topic.equals(this.#frame)) {
        const why =
          typeof frame === 'string'
            ? frame
            : `it was sent to topic ${JSON.stringify(frame.topic.subarray(0, -1).toString())} (give each topic its own endpoint)`;
        this.lose(
          'dropped',
          (n) =>
            new MessagesLostError(
              `${n} message(s) dropped by the subscriber of ${JSON.stringify(this.#topic)}: ${why}`,
            ),
        );
        continue;
      }
      this.#bytes += frame.payload.byteLength;
      // Waits while the buffer is full: ZeroMQ's queues fill and the pusher waits.
      if (!(await this.pushWait(frame.payload))) return;
    }
  }

  protected taken(item: Buffer): Uint8Array {
    this.#bytes -= item.byteLength;
    if (this.#room !== undefined && this.#bytes <= this.#maxBytes) {
      const room = this.#room;
      this.#room = undefined;
      room();
    }
    return item;
  }

  protected release(): void {
    this.#socket.close();
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }
}
