import { throwIfAborted } from '@proxystream/protocols/kit';
import { Publisher as PubSocket } from 'zeromq';
import { zmqPubSubCapabilities } from './capabilities.js';
import { attach, endpointsOf } from './options.js';
import { type SenderSettings, senderSettings, ZmqSender, type ZmqSenderOptions } from './sender.js';

/** Options of {@link ZmqPublisher.create}: where it binds or connects, and its limits. */
export interface ZmqPublisherOptions extends ZmqSenderOptions {}

/**
 * A ZeroMQ PUB socket as a proxystream publisher: every subscriber of a topic gets each message
 * (fan-out). A subscriber that cannot keep up loses messages at the send high-water mark; the
 * shim's sequence numbers make the subscriber report each such loss where it happened.
 *
 * @example
 * ```ts
 * const publisher = await ZmqPublisher.create({ bind: 'tcp://127.0.0.1:5555' });
 * await publisher.send('frames', new Uint8Array([1, 2, 3]));
 * await publisher.close();
 * ```
 */
export class ZmqPublisher extends ZmqSender {
  /**
   * Opens a PUB socket, binds and connects it. Resolves once bound (connects go on in the
   * background: a subscriber receives what is sent after its subscription reached the publisher).
   * @throws `InvalidArgumentError`, `AbortedError`, `BrokerError` (an endpoint that cannot be bound).
   */
  static async create(options: ZmqPublisherOptions = {}): Promise<ZmqPublisher> {
    const settings = senderSettings(options);
    const endpoints = endpointsOf(options);
    throwIfAborted(options.signal);
    const socket = new PubSocket({
      ...(options.context === undefined ? {} : { context: options.context }),
      sendHighWaterMark: settings.sendHighWaterMark,
      linger: 0,
      sendBufferSize: settings.sendBufferSize,
    });
    const attached = await attach(socket, endpoints, options.signal);
    return new ZmqPublisher(socket, attached, settings);
  }

  private constructor(socket: PubSocket, endpoints: readonly string[], settings: SenderSettings) {
    super(socket, endpoints, settings, zmqPubSubCapabilities(settings.maxMessageSize));
  }
}
