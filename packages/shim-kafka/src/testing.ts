/**
 * The Kafka shim as the project's tooling sees it (the contract suite, the bench, the soak runner):
 * `import { kafkaDescriptor } from '@proxystream/shim-kafka/testing'`.
 *
 * @packageDocumentation
 */
import {
  type BrokerRequirement,
  brokerAddress,
  type ClusterFailover,
  type DescriptorSubscribeOptions,
  type ShimDescriptor,
  type ShimEnvironment,
} from '@proxystream/protocols/kit';
import { Kafka, type RetryOptions } from 'kafkajs';
import { KAFKA_CAPABILITIES } from './capabilities.js';
import { kafkaErrorType } from './kafka-errors.js';
import { quietLogCreator } from './logging.js';
import type { TopicSettings } from './options.js';
import { KafkaPublisher } from './publisher.js';
import { DEFAULT_RETRY_FOR_MS, sendRetry } from './send-retry.js';
import { KafkaSubscriber } from './subscriber.js';
import { createKafkaTopics } from './topic.js';

/** The broker of `scripts/brokers.sh start kafka`, or the comma-separated list in `KAFKA_BROKERS`. */
export const kafkaBroker: BrokerRequirement = Object.freeze({
  name: 'kafka',
  variable: 'KAFKA_BROKERS',
  defaultAddress: '127.0.0.1:9092',
});

/** The brokers of `env`: `KAFKA_BROKERS` split at commas, else `127.0.0.1:9092`. */
export function kafkaBrokers(env: ShimEnvironment): string[] {
  return brokerList(kafkaBroker, env);
}

/** The brokers of `broker` in `env`: its variable split at commas, else its default. */
function brokerList(broker: BrokerRequirement, env: ShimEnvironment): string[] {
  return brokerAddress(broker, env)
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
}

/** What differs between the Kafka descriptors: the broker, the names, the topics' settings. */
interface KafkaDescriptorSettings {
  readonly name: string;
  readonly title: string;
  readonly broker: BrokerRequirement;
  readonly topics: TopicSettings;
  readonly failover?: ClusterFailover;
}

/**
 * A descriptor of the Kafka shim on `settings.broker`: a publisher that creates topics on first
 * use, and a subscriber with the broker's minimum session timeout (6 s), 500 ms heartbeats and
 * 100 ms fetch waits, so that joins, closes and the hand-over of a dead member's partitions are
 * fast. `fastRedelivery` changes nothing: a dead member's messages come again after the session
 * timeout, which is already the broker's minimum. `readCount` is ignored (kafkajs fetches by bytes).
 */
function kafkaShimDescriptor(settings: KafkaDescriptorSettings): ShimDescriptor {
  const { broker, topics } = settings;
  const brokers = (env: ShimEnvironment) => brokerList(broker, env);
  const client = (env: ShimEnvironment) =>
    new Kafka({
      brokers: brokers(env),
      clientId: 'proxystream-testing',
      logCreator: quietLogCreator,
    });
  return Object.freeze({
    name: settings.name,
    title: settings.title,
    packageName: '@proxystream/shim-kafka',
    broker,
    capabilities: KAFKA_CAPABILITIES,
    invalidTopics: Object.freeze(['bad topic', 'a/b', 'x'.repeat(250), '..']),
    ...(settings.failover === undefined ? {} : { failover: settings.failover }),
    publisher: (env: ShimEnvironment) =>
      KafkaPublisher.create({ connection: { brokers: brokers(env) }, createTopics: topics }),
    subscriber: (env: ShimEnvironment, topic: string, options: DescriptorSubscribeOptions = {}) =>
      KafkaSubscriber.create(topic, {
        connection: { brokers: brokers(env) },
        createTopics: topics,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        maxWaitTimeMs: 100,
        ...(options.group === undefined ? {} : { group: options.group }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }),
    async publishRaw(env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> {
      const kafka = client(env);
      await createKafkaTopics(kafka, [topic], topics);
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send({ topic, messages: [{ value: Buffer.from(bytes) }] });
      } finally {
        await producer.disconnect();
      }
    },
    async cleanup(env: ShimEnvironment, topic: string): Promise<void> {
      const admin = client(env).admin();
      await admin.connect();
      try {
        // kafkajs retries the deletion of a missing topic for about 10 s: look first.
        if (!(await admin.listTopics()).includes(topic)) return;
        await admin.deleteTopics({ topics: [topic] }).catch((error: unknown) => {
          if (kafkaErrorType(error) !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
        });
      } finally {
        await admin.disconnect();
      }
    },
  });
}

/** The Kafka shim on the single broker of `scripts/brokers.sh start kafka` (`KAFKA_BROKERS`). */
export const kafkaDescriptor: ShimDescriptor = kafkaShimDescriptor({
  name: 'kafka',
  title: 'Kafka',
  broker: kafkaBroker,
  topics: {},
});

/**
 * The 3-node cluster of `scripts/clusters.sh start kafka`, or the comma-separated list in
 * `KAFKA_CLUSTER_BROKERS`.
 */
export const kafkaClusterBroker: BrokerRequirement = Object.freeze({
  name: 'kafka',
  variable: 'KAFKA_CLUSTER_BROKERS',
  defaultAddress: '127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194',
});

/**
 * The Kafka shim on a cluster (`KAFKA_CLUSTER_BROKERS`), its topics replicated 3 times. Its
 * failover roles: `'holder'`, the broker leading partition 0 of the topic; `'connected'`, the
 * first broker of the list, which every client asks first for the cluster's metadata.
 */
export const kafkaClusterDescriptor: ShimDescriptor = kafkaShimDescriptor({
  name: 'kafka-cluster',
  title: 'Kafka (3 brokers, replication 3)',
  broker: kafkaClusterBroker,
  topics: { replicationFactor: 3 },
  failover: Object.freeze({
    cluster: 'kafka',
    roles: Object.freeze(['holder', 'connected']),
    node: (env: ShimEnvironment, topic: string, role: string) =>
      clusterNode(brokerList(kafkaClusterBroker, env), topic, role),
  }),
});

/** The client port of the broker that has `role` for `topic` on the cluster of `brokers`. */
async function clusterNode(brokers: string[], topic: string, role: string): Promise<string> {
  if (role === 'connected') return portOf(brokers[0] ?? '');
  if (role !== 'holder') throw new TypeError(`unknown failover role "${role}"`);
  const admin = new Kafka({
    brokers,
    clientId: 'proxystream-testing',
    logCreator: quietLogCreator,
  }).admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const leader = metadata.topics[0]?.partitions.find(
      (partition) => partition.partitionId === 0,
    )?.leader;
    const node = (await admin.describeCluster()).brokers.find((broker) => broker.nodeId === leader);
    if (node === undefined) throw new Error(`partition 0 of topic "${topic}" has no live leader`);
    return String(node.port);
  } finally {
    await admin.disconnect();
  }
}

function portOf(broker: string): string {
  return broker.slice(broker.lastIndexOf(':') + 1);
}

/** The Kafka shim on a cluster, for the contract and failover cases of `test/cluster/`. */
export const clusterDescriptors: readonly ShimDescriptor[] = Object.freeze([
  kafkaClusterDescriptor,
]);

/** Every shim of this package, for tooling that iterates over descriptors. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([kafkaDescriptor]);

/**
 * The kafkajs `retry` settings `KafkaPublisher` gives its producer by default (about 30 s of
 * retries, backoff 100 ms doubling to 1 s), for a raw kafkajs producer that should ride out a
 * leader election as the publisher does (the bench's raw contender).
 */
export const publisherRetry: RetryOptions = sendRetry(DEFAULT_RETRY_FOR_MS);
