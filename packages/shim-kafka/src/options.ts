import { InvalidArgumentError } from '@proxystream/protocols';
import { Kafka, type KafkaConfig } from 'kafkajs';
import { quietLogCreator } from './logging.js';

/** Default broker list: a local single-node broker on the loopback interface. */
export const DEFAULT_BROKERS: readonly string[] = ['127.0.0.1:9092'];

/**
 * How a shim reaches Kafka: either a `Kafka` client the caller made (`kafka`), or the settings to
 * make one. The shim creates its own producer, consumer or admin from the client and disconnects
 * only those; the caller's client needs no closing (a kafkajs `Kafka` object holds no sockets).
 */
export interface KafkaConnectionOptions {
  /** A client the caller made (multi-broker clusters, SASL, TLS, custom sockets). Wins over the fields below. */
  kafka?: Kafka;
  /** `host:port` of one or more brokers. Default `['127.0.0.1:9092']`. */
  brokers?: readonly string[];
  /** Client id the broker sees in its logs and quotas. Default `'proxystream'`. */
  clientId?: string;
  /**
   * Further kafkajs client settings (`ssl`, `sasl`, `connectionTimeout`, `retry`, `logLevel`,
   * `logCreator`…). By default kafkajs's log goes to `NODE_DEBUG=proxystream-kafka` only, because
   * kafkajs logs retriable conditions (a rebalance, a leader election) at ERROR level.
   */
  config?: Omit<KafkaConfig, 'brokers' | 'clientId'>;
}

/** Settings of topics the shim creates (on first use, or through {@link createKafkaTopics}). */
export interface TopicSettings {
  /** Partitions of a new topic. Default: the broker's `num.partitions` (1 on the project's broker). */
  numPartitions?: number;
  /** Replicas of each partition. Default: the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** Topic-level configs, e.g. `{ 'retention.ms': '3600000' }`. */
  configEntries?: Readonly<Record<string, string>>;
}

/** The client to use, made from `options` when the caller gave none. */
export function kafkaClientOf(options: KafkaConnectionOptions): Kafka {
  if (options.kafka) return options.kafka;
  const brokers = [...(options.brokers ?? DEFAULT_BROKERS)];
  if (brokers.length === 0) throw new InvalidArgumentError('brokers must name at least one broker');
  const config = options.config ?? {};
  const quiet = config.logLevel === undefined && config.logCreator === undefined;
  return new Kafka({
    ...config,
    ...(quiet ? { logCreator: quietLogCreator } : {}),
    brokers,
    clientId: options.clientId ?? 'proxystream',
  });
}

/** Throws {@link InvalidArgumentError} unless `value` is a positive integer (or undefined). */
export function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
}
