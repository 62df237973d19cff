/**
 * What a shim does when its subscriber reads slower than the publisher sends.
 * - `'backpressure'`: `send` waits until the subscriber has room.
 * - `'broker-buffers'`: the broker stores messages durably; the subscriber fetches on demand.
 * - `'drops-reported'`: messages may be dropped; every loss is made visible (an error from the
 *   subscriber or a sequence gap seen by the stream consumer).
 */
export type SlowConsumerBehaviour = 'backpressure' | 'broker-buffers' | 'drops-reported';

/**
 * Facts a shim declares about itself. The contract suite reads them to choose its cases and what
 * they expect; users read them to pick a shim.
 */
export interface Capabilities {
  /** Every subscriber of a topic receives every message. */
  readonly fanOut: boolean;
  /** Subscribers in one group share messages, each to one member. */
  readonly competingConsumers: boolean;
  /** Messages sent while no subscriber exists are kept and delivered later. */
  readonly persistent: boolean;
  /** Messages of one topic (partition, for Kafka) arrive in the order they were sent. */
  readonly ordered: boolean;
  /** Unacknowledged messages are redelivered after a subscriber dies. */
  readonly acknowledged: boolean;
  /** Largest message in bytes that `send` accepts; `Infinity` for no limit of its own. */
  readonly maxMessageSize: number;
  /** What happens to a slow subscriber. */
  readonly slowConsumer: SlowConsumerBehaviour;
}
