import { brokerContract } from '@proxystream/contract-tests';
import { beforeAll } from 'vitest';
import { KafkaPublisher, KafkaSubscriber, kafkaCapabilities } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions } from './kafka-env.js';

beforeAll(assertKafkaRunning);

// No restartBroker hook: scripts/kafka.sh starts each broker on a fresh data directory, so a
// restart would lose the log (and `brokers.sh restart kafka` is not supported).
brokerContract({
  name: 'kafka',
  capabilities: kafkaCapabilities(),
  createPublisher: () => KafkaPublisher.connect(publisherOptions),
  createSubscriber: (topic, options) =>
    KafkaSubscriber.subscribe(topic, { ...subscriberOptions, ...options }),
  invalidTopics: ['bad topic', 'a/b', 'x'.repeat(250), '..'],
  topicPrefix: 'contract-kafka',
});
