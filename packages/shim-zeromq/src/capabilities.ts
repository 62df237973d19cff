import type { Capabilities, MessagingAttributes } from '@proxystream/protocols';

/**
 * Default largest message: 8 MiB (8 388 608 bytes). Publishers refuse larger messages with
 * `MessageTooLargeError`; subscribers set ZeroMQ's `ZMQ_MAXMSGSIZE` to it, so that a peer
 * sending a larger frame is disconnected instead of filling memory.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024;

/**
 * What PUB/SUB ({@link ZmqPublisher} → {@link ZmqSubscriber}) guarantees:
 * - `fanOut`: every subscriber of a topic gets every message sent after its subscription
 *   reached the publisher;
 * - `ordered`: per publisher (ZeroMQ keeps the order of one peer's messages);
 * - not `persistent`, not `acknowledged`: nothing is kept for a subscriber that is not connected;
 * - `slowConsumer: 'drops-reported'`: ZeroMQ drops silently at the publisher's send high-water
 *   mark; the shim numbers every message per publisher and topic, so the subscriber sees the gap
 *   and reports it (`MessagesLostError` at that place, and `onLoss`), like its own buffer's drops.
 */
export function zmqPubSubCapabilities(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Capabilities {
  return Object.freeze({
    fanOut: true,
    competingConsumers: false,
    persistent: false,
    ordered: true,
    acknowledged: false,
    maxMessageSize,
    slowConsumer: 'drops-reported',
  });
}

/**
 * What PUSH/PULL ({@link ZmqPushPublisher} → {@link ZmqPullSubscriber}) guarantees:
 * - `competingConsumers`: each message goes to one of the connected pull subscribers (round
 *   robin over the peers that have room);
 * - `ordered`: per publisher and subscriber;
 * - not `persistent`, not `acknowledged`: messages queued towards a subscriber that dies are lost;
 * - `slowConsumer: 'backpressure'`: when every peer's high-water mark is reached (or no peer is
 *   connected), `send` waits.
 */
export function zmqPushPullCapabilities(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Capabilities {
  return Object.freeze({
    fanOut: false,
    competingConsumers: true,
    persistent: false,
    ordered: true,
    acknowledged: false,
    maxMessageSize,
    slowConsumer: 'backpressure',
  });
}

/**
 * What every ZeroMQ publisher and subscriber tells traces and metrics (`messaging.system`). No
 * `group`: PUSH/PULL shares messages among the connected peers, which have no group name.
 */
export const ZMQ_MESSAGING: MessagingAttributes = Object.freeze({ system: 'zeromq' });

/** PUB/SUB capabilities with the default `maxMessageSize` (what the descriptor uses). */
export const ZMQ_PUBSUB_CAPABILITIES: Capabilities = zmqPubSubCapabilities();

/** PUSH/PULL capabilities with the default `maxMessageSize` (what the descriptor uses). */
export const ZMQ_PUSHPULL_CAPABILITIES: Capabilities = zmqPushPullCapabilities();
