import { brokerContract } from '@proxystream/contract-tests';
import {
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  redisPubSubCapabilities,
} from '../src/index.js';
import { REDIS_URL } from './env.js';

brokerContract({
  name: 'redis pub/sub',
  capabilities: redisPubSubCapabilities,
  createPublisher: async () => new RedisPubSubPublisher({ connection: REDIS_URL }),
  createSubscriber: (topic, options) =>
    RedisPubSubSubscriber.create(topic, { ...options, connection: REDIS_URL }),
  invalidTopics: [
    'bad topic',
    'tab\there',
    'new\nline',
    'glob*',
    'what?',
    '[set]',
    'back\\slash',
    '{tag}',
    'x'.repeat(1025),
  ],
  // No restartBroker: reconnect and resubscribe are shown by pubsub.test.ts with CLIENT KILL, in
  // seconds; the contract's restart case costs a minute per shim (see the package report).
  topicPrefix: 'test-pubsub',
});
