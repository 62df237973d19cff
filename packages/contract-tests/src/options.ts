import type { Store, StoreConfig } from '@proxystream/protocols';
import type { BrokerRequirement, ShimEnvironment } from '@proxystream/protocols/kit';

/**
 * Restarts the broker a descriptor needs, keeping its data (`restartLocalBroker` does it with
 * `scripts/brokers.sh`). Given to a contract, it turns the broker-restart cases on.
 */
export type RestartBroker = (broker: BrokerRequirement, env: ShimEnvironment) => Promise<void>;

/** Options of {@link brokerContract} beside the descriptor. */
export interface BrokerContractOptions {
  /** Where the broker is. Default `process.env`. */
  env?: ShimEnvironment;
  /** Restarts the descriptor's broker; when given, the fault cases run. */
  restartBroker?: RestartBroker;
  /** Longest silence a case waits for the next message, in ms. Default 10 000. */
  inactivityTimeoutMs?: number;
  /** Prefix of the unique topic names the suite makes. Default `'contract-<descriptor name>'`. */
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
