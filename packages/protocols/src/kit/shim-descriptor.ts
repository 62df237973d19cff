import type { Capabilities } from '../capabilities.js';
import type { MessagesLostError } from '../errors.js';
import type { Publisher, Subscriber } from '../messaging.js';
import type { Store, StoreFactory } from '../store.js';

/**
 * The variables a descriptor reads its broker's address from (`process.env` in tests, the bench
 * and the soak runner). Each broker has one variable, with a local default on 127.0.0.1.
 */
export type ShimEnvironment = Readonly<Record<string, string | undefined>>;

/** The broker a shim needs, as `scripts/brokers.sh` knows it. */
export interface BrokerRequirement {
  /** Its name in `scripts/brokers.sh start|stop|restart <name>`: `'redis'`, `'nats'`, `'kafka'`. */
  readonly name: string;
  /** The variable that points the shim at a broker, e.g. `'REDIS_URL'`. */
  readonly variable: string;
  /** The address used when the variable is unset (always on 127.0.0.1). */
  readonly defaultAddress: string;
}

/** What the contract, the bench and the soak runner may ask of a subscriber. */
export interface DescriptorSubscribeOptions {
  /** A group of competing consumers (only for shims that declare `competingConsumers`). */
  group?: string;
  /** Aborting ends the iteration like `close()`. */
  signal?: AbortSignal;
  /**
   * Short redelivery times (about a second) for the kill and restart scenarios, where a
   * message whose delivery was cut must come again within the case's patience.
   */
  fastRedelivery?: boolean;
  /** Messages read per broker round trip, where the shim has such a setting (bench parity). */
  readCount?: number;
  /**
   * Messages and bytes a subscriber may read ahead of its reader, where the shim has such limits
   * (its `maxBufferedMessages` / `maxBufferedBytes`): bench parity with a raw client that holds
   * up to its high-water mark. Descriptors without such limits ignore them.
   */
  maxBuffered?: { readonly messages?: number; readonly bytes?: number };
  /**
   * A fan-out subscriber's loss callback (`onLoss`, see `LossReporting`), passed through by
   * descriptors whose capabilities say `slowConsumer: 'drops-reported'`; others ignore it.
   */
  onLoss?: (error: MessagesLostError) => void;
}

/**
 * What a persistent shim promises across a broker restart, where its capabilities alone do not
 * say it (the fault scenarios of `@proxystream/contract-tests` check it). Fan-out shims need
 * none: they must report every loss.
 */
export interface RestartExpectation {
  /**
   * What the broker keeps, as a new group reads it again: `'every-event-once'` (default), or
   * `'every-event-at-least-once'` where a command replayed after the reconnect may store a batch
   * twice (Redis).
   */
  readonly stored?: 'every-event-once' | 'every-event-at-least-once';
  /**
   * Most events that may arrive after later ones: a delivery the restart cut comes again after
   * the redelivery time, after the batches that overtook it (at most one read of events).
   * Default 0.
   */
  readonly maxReordered?: number;
}

/**
 * How the failover cases of `@proxystream/contract-tests` (`failoverSuite`) find the node of a
 * cluster to kill in the middle of a stream, for a descriptor whose broker is a cluster that
 * `scripts/clusters.sh` runs (or one the user points `broker.variable` at).
 */
export interface ClusterFailover {
  /** The cluster's name in `scripts/clusters.sh start|stop|kill|restart <name>`: `'redis'`, `'nats'`, `'kafka'`. */
  readonly cluster: string;
  /**
   * The nodes worth killing, one failover case each, e.g. `'holder'` (the node that holds the
   * topic's key, leads its partition or its stream) and `'connected'` (the node the clients
   * talk to first).
   */
  readonly roles: readonly string[];
  /**
   * The node that has `role` for `topic` at this moment, as `scripts/clusters.sh` names its
   * nodes: its client port on 127.0.0.1 (`'7001'`). Called after the topic has carried data.
   */
  node(env: ShimEnvironment, topic: string, role: string): Promise<string>;
}

/** A store a shim provides, with the factory that reopens it from its wire config. */
export interface DescriptorStore {
  /** Makes a fresh store on the descriptor's broker. */
  create(env: ShimEnvironment): Promise<Store>;
  /** The factory that reopens a store from a config received over the wire (allow-listed). */
  factory(env: ShimEnvironment): StoreFactory;
}

/**
 * Everything the project's tooling needs to know about one shim, stated once, by the shim
 * (exported from `@proxystream/shim-<name>/testing`). The contract suite chooses its cases by
 * {@link capabilities}; the bench, the soak runner and the fault scenarios iterate over
 * descriptors instead of keeping per-shim tables.
 *
 * @example
 * ```ts
 * import { redisListDescriptor } from '@proxystream/shim-redis/testing';
 * const publisher = await redisListDescriptor.publisher(process.env);
 * ```
 */
export interface ShimDescriptor {
  /** Short unique name, letters, digits and dashes: `'redis-list'`, `'jetstream'`. */
  readonly name: string;
  /** A title for reports: `'Redis list queue'`. */
  readonly title: string;
  /** The npm package that holds the shim. */
  readonly packageName: string;
  /** The broker it needs; `undefined` for a brokerless shim. */
  readonly broker: BrokerRequirement | undefined;
  /** The shim's capabilities, the same object the shim exports. */
  readonly capabilities: Capabilities;
  /** Topic names the shim must reject with `InvalidTopicError` (`''` is always tried too). */
  readonly invalidTopics: readonly string[];
  /** Makes a publisher connected to the broker of `env`. The caller closes it. */
  publisher(env: ShimEnvironment): Promise<Publisher>;
  /** Makes a subscriber of `topic`, ready when the promise resolves. The caller closes it. */
  subscriber(
    env: ShimEnvironment,
    topic: string,
    options?: DescriptorSubscribeOptions,
  ): Promise<Subscriber>;
  /**
   * Sends `bytes` to `topic` as the raw broker client would, without the shim's checks or
   * framing: for the bad-input cases (malformed envelopes must reach the consumer).
   */
  publishRaw(env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void>;
  /** Runs once before a suite (creating a stream, say). */
  prepare?(env: ShimEnvironment): Promise<void>;
  /** Deletes what a topic left on the broker. */
  cleanup?(env: ShimEnvironment, topic: string): Promise<void>;
  /** The store this shim's package provides on the same broker, if any. */
  readonly store?: DescriptorStore;
  /** What the shim promises across a broker restart (persistent shims; defaults as documented). */
  readonly restart?: RestartExpectation;
  /** For a descriptor on a cluster: how the failover cases choose the node they kill. */
  readonly failover?: ClusterFailover;
}

/** The address of `broker` in `env`: its variable, else its local default. */
export function brokerAddress(broker: BrokerRequirement, env: ShimEnvironment): string {
  const value = env[broker.variable];
  return value === undefined || value === '' ? broker.defaultAddress : value;
}
