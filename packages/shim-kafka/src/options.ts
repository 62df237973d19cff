import { InvalidArgumentError } from '@proxystream/protocols';
import { Kafka, type KafkaConfig } from 'kafkajs';
import { quietLogCreator } from './logging.js';

/** Default broker list: a local single-node broker on the loopback interface. */
export const DEFAULT_BROKERS: readonly string[] = ['127.0.0.1:9092'];

/**
 * The settings of a kafkajs client the shim makes (and whose producer, consumer or admin it
 * disconnects): `brokers`, `clientId`, and any other kafkajs client setting (`ssl`, `sasl`,
 * `connectionTimeout`, `retry`, `logLevel`, `logCreator`…).
 *
 * By default kafkajs's log goes to `NODE_DEBUG=proxystream-kafka` only, because kafkajs logs
 * retriable conditions (a rebalance, a leader election) at ERROR level; give `logLevel` or
 * `logCreator` to change that.
 *
 * @example
 * ```ts
 * const connection = { brokers: ['kafka-1:9093'], clientId: 'frames', ssl: true };
 * ```
 */
export type KafkaConnectionSettings = Omit<KafkaConfig, 'brokers' | 'clientId'> & {
  /** `host:port` of one or more brokers. */
  brokers: readonly string[];
  /** Client id the broker sees in its logs and quotas. Default `'proxystream'`. */
  clientId?: string;
};

/**
 * How a shim reaches Kafka: one option, `connection`, that is either a `Kafka` client the caller
 * made (multi-broker clusters, SASL, TLS, custom sockets) or the {@link KafkaConnectionSettings}
 * of one. Either way the shim creates its own producer, consumer or admin from the client and
 * disconnects only those; a caller's client needs no closing (a kafkajs `Kafka` object holds no
 * sockets of its own).
 */
export interface KafkaConnectionOptions {
  /** A client the caller made, or the settings of one. Default `{ brokers: ['127.0.0.1:9092'] }`. */
  connection?: Kafka | KafkaConnectionSettings;
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

/** True when `connection` is a kafkajs client rather than settings (duck-typed: any kafkajs copy). */
function isKafkaClient(connection: Kafka | KafkaConnectionSettings): connection is Kafka {
  return typeof (connection as Partial<Kafka>).producer === 'function';
}

/** The client to use: the caller's, or one made from the settings. */
export function kafkaClientOf(options: KafkaConnectionOptions): Kafka {
  const connection = options.connection ?? { brokers: DEFAULT_BROKERS };
  if (isKafkaClient(connection)) return connection;
  const { brokers, clientId, ...config } = connection;
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw new InvalidArgumentError('connection.brokers must name at least one broker');
  }
  const quiet = config.logLevel === undefined && config.logCreator === undefined;
  return new Kafka({
    ...config,
    ...(quiet ? { logCreator: quietLogCreator } : {}),
    brokers: [...brokers],
    clientId: clientId ?? 'proxystream',
  });
}
