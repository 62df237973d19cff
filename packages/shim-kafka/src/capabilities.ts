import type { Capabilities, MessagingAttributes } from '@proxystream/protocols';

/**
 * Default largest message the publisher accepts: 1 000 000 bytes. The broker's default
 * `message.max.bytes` is 1 048 588 bytes per record batch, which must also hold the batch header
 * (61 bytes) and the record's own framing; the margin keeps one maximal message inside it.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1_000_000;

/**
 * What the Kafka shim guarantees:
 * - `ordered`: per partition; a topic created by the shim has the broker's default partition count
 *   (1 on the project's broker), and messages with the same key share a partition.
 * - `persistent`: the log keeps messages whether or not anyone subscribes; a new group starts at
 *   the oldest retained message by default (`start: 'beginning'`).
 * - `competingConsumers` within a consumer group (one member per partition), `fanOut` across groups
 *   (a subscriber without a group gets a group of its own).
 * - `acknowledged`: offsets are committed only for messages the caller moved past or acked.
 * - `slowConsumer: 'broker-buffers'`: the subscriber pauses fetching when its buffer is full.
 */
export function kafkaCapabilities(maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): Capabilities {
  return Object.freeze({
    fanOut: true,
    competingConsumers: true,
    persistent: true,
    ordered: true,
    acknowledged: true,
    maxMessageSize,
    slowConsumer: 'broker-buffers',
  });
}

/**
 * The Kafka shim's capabilities with the default `maxMessageSize`: the object a publisher made
 * with the defaults reports, and the one its descriptor (`@proxystream/shim-kafka/testing`) uses.
 */
export const KAFKA_CAPABILITIES: Capabilities = kafkaCapabilities();

/**
 * What every Kafka publisher and subscriber tells traces and metrics (`messaging.system`); a
 * subscriber of a group the caller named adds the group.
 */
export const KAFKA_MESSAGING: MessagingAttributes = Object.freeze({ system: 'kafka' });
