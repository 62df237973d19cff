/**
 * The Kafka shim as the project's tooling sees it (the contract suite, the bench, the soak runner):
 * `import { kafkaDescriptor } from '@proxystream/shim-kafka/testing'`.
 *
 * @packageDocumentation
 */
import {
  type BrokerRequirement,
  brokerAddress,
  type DescriptorSubscribeOptions,
  type ShimDescriptor,
  type ShimEnvironment,
} from '@proxystream/protocols/kit';
import { Kafka } from 'kafkajs';
import { KAFKA_CAPABILITIES } from './capabilities.js';
import { kafkaErrorType } from './kafka-errors.js';
import { quietLogCreator } from './logging.js';
import { KafkaPublisher } from './publisher.js';
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
  return brokerAddress(kafkaBroker, env)
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
}

/** A client for the raw operations of the descriptor (publishRaw, cleanup), logging nothing. */
function rawClient(env: ShimEnvironment): Kafka {
  return new Kafka({
    brokers: kafkaBrokers(env),
    clientId: 'proxystream-testing',
    logCreator: quietLogCreator,
  });
}

/**
 * The Kafka shim: a publisher that creates topics on first use, and a subscriber with the
 * broker's minimum session timeout (6 s), 500 ms heartbeats and 100 ms fetch waits, so that
 * joins, closes and the hand-over of a dead member's partitions are fast. `fastRedelivery`
 * changes nothing: a dead member's messages come again after the session timeout, which is
 * already the broker's minimum. `readCount` is ignored (kafkajs fetches by bytes).
 */
export const kafkaDescriptor: ShimDescriptor = Object.freeze({
  name: 'kafka',
  title: 'Kafka',
  packageName: '@proxystream/shim-kafka',
  broker: kafkaBroker,
  capabilities: KAFKA_CAPABILITIES,
  invalidTopics: Object.freeze(['bad topic', 'a/b', 'x'.repeat(250), '..']),
  publisher: (env: ShimEnvironment) =>
    KafkaPublisher.create({ connection: { brokers: kafkaBrokers(env) }, createTopics: true }),
  subscriber: (env: ShimEnvironment, topic: string, options: DescriptorSubscribeOptions = {}) =>
    KafkaSubscriber.create(topic, {
      connection: { brokers: kafkaBrokers(env) },
      createTopics: true,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      maxWaitTimeMs: 100,
      ...(options.group === undefined ? {} : { group: options.group }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }),
  async publishRaw(env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> {
    const kafka = rawClient(env);
    await createKafkaTopics(kafka, [topic]);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ value: Buffer.from(bytes) }] });
    } finally {
      await producer.disconnect();
    }
  },
  async cleanup(env: ShimEnvironment, topic: string): Promise<void> {
    const admin = rawClient(env).admin();
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

/** Every shim of this package, for tooling that iterates over descriptors. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([kafkaDescriptor]);
