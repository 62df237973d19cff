import type {
  Capabilities,
  Publisher,
  Store,
  StoreConfig,
  SubscribeOptions,
  Subscriber,
} from '@proxystream/protocols';

/** What a shim author hands to {@link brokerContract}. */
export interface BrokerContractOptions {
  /** Name shown in the test report, e.g. `'redis pub/sub'`. */
  name: string;
  /** The shim's declared capabilities: they choose the cases and what each expects. */
  capabilities: Capabilities;
  /** Makes a fresh publisher. The suite closes it. */
  createPublisher(): Promise<Publisher>;
  /**
   * Makes a fresh subscriber of `topic`, ready when the promise resolves. The suite passes
   * `options.group` only when the shim declares competing consumers; a persistent shim's
   * subscriber in a new group must start from the oldest retained message.
   */
  createSubscriber(topic: string, options: SubscribeOptions): Promise<Subscriber>;
  /** Topic names the shim must reject with `InvalidTopicError`; `''` is always tried. */
  invalidTopics?: readonly string[];
  /** Restarts the broker; when given, the fault cases run. */
  restartBroker?: () => Promise<void>;
  /** Longest silence a case waits for the next message, in ms. Default 10 000. */
  inactivityTimeoutMs?: number;
  /** Prefix of the unique topic names the suite makes. Default `'contract'`. */
  topicPrefix?: string;
  /**
   * Messages a subscriber may hold unread before a backpressure shim must make `send` wait.
   * Default 10 000.
   */
  backpressureBound?: number;
}

/** What a store author hands to {@link storeContract}. */
export interface StoreContractOptions {
  /** Name shown in the test report, e.g. `'file store'`. */
  name: string;
  /** Makes a fresh, empty store. The suite closes it. */
  createStore(): Promise<Store>;
  /** Opens a second instance from a config produced by `config()` of the first. */
  openFromConfig(config: StoreConfig): Promise<Store>;
  /** Size of the large-value case in bytes. Default 16 MiB. */
  largeValueBytes?: number;
}
