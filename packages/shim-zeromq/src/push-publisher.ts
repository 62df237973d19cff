import { throwIfAborted } from '@proxystream/protocols/kit';
import { Push } from 'zeromq';
import { zmqPushPullCapabilities } from './capabilities.js';
import { attach, endpointsOf } from './options.js';
import { type SenderSettings, senderSettings, ZmqSender, type ZmqSenderOptions } from './sender.js';

/** Options of {@link ZmqPushPublisher.create}: where it binds or connects, and its limits. */
export interface ZmqPushPublisherOptions extends ZmqSenderOptions {}

/**
 * A ZeroMQ PUSH socket as a proxystream publisher: each message goes to one connected
 * {@link ZmqPullSubscriber} (competing consumers, round robin). When every peer's high-water
 * mark is reached, or no peer is connected, `send` waits (backpressure).
 *
 * A PUSH/PULL pipe carries one topic: give each topic its own endpoint. A pull subscriber drops
 * and reports a message of another topic.
 *
 * @example
 * ```ts
 * const publisher = await ZmqPushPublisher.create({ bind: 'tcp://127.0.0.1:5557' });
 * await publisher.send('jobs', new TextEncoder().encode('job 1')); // waits for a puller
 * await publisher.close();
 * ```
 */
export class ZmqPushPublisher extends ZmqSender {
  /**
   * Opens a PUSH socket, binds and connects it; resolves once bound.
   * @throws `InvalidArgumentError`, `AbortedError`, `BrokerError` (an endpoint that cannot be bound).
   */
  static async create(options: ZmqPushPublisherOptions = {}): Promise<ZmqPushPublisher> {
    const settings = senderSettings(options);
    const endpoints = endpointsOf(options);
    throwIfAborted(options.signal);
    const socket = new Push({
      ...(options.context === undefined ? {} : { context: options.context }),
      sendHighWaterMark: settings.sendHighWaterMark,
      // Queue only towards peers that are connected, so a message never waits for a peer that
      // may never come while another one has room.
      immediate: true,
      linger: 0,
      sendBufferSize: settings.sendBufferSize,
    });
    const attached = await attach(socket, endpoints, options.signal);
    return new ZmqPushPublisher(socket, attached, settings);
  }

  private constructor(socket: Push, endpoints: readonly string[], settings: SenderSettings) {
    super(socket, endpoints, settings, zmqPushPullCapabilities(settings.maxMessageSize));
  }
}
