import { brokerContract } from '@proxystream/contract-tests';
import { afterAll } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber, redisQueueCapabilities } from '../src/index.js';
import { deleteKeys, REDIS_URL, restartRedis } from './env.js';

brokerContract({
  name: 'redis list queue',
  capabilities: redisQueueCapabilities,
  createPublisher: async () => new RedisQueuePublisher({ connection: REDIS_URL }),
  createSubscriber: (topic, options) =>
    RedisQueueSubscriber.create(topic, { ...options, connection: REDIS_URL }),
  invalidTopics: ['bad topic', 'new\nline', 'glob*', '{tag}'],
  restartBroker: restartRedis,
  topicPrefix: 'test-queue',
});

afterAll(async () => {
  await deleteKeys('test-queue-*');
  await deleteKeys('{test-queue-*');
});
