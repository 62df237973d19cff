import { brokerContract } from '@proxystream/contract-tests';
import { afterAll } from 'vitest';
import {
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
  redisStreamsCapabilities,
} from '../src/index.js';
import { deleteKeys, REDIS_URL, restartRedis } from './env.js';

brokerContract({
  name: 'redis streams',
  capabilities: redisStreamsCapabilities,
  createPublisher: async () => new RedisStreamsPublisher({ connection: REDIS_URL }),
  createSubscriber: (topic, options) =>
    RedisStreamsSubscriber.create(topic, { ...options, connection: REDIS_URL }),
  invalidTopics: ['bad topic', 'new\nline', 'glob*', '{tag}'],
  restartBroker: restartRedis,
  topicPrefix: 'test-streams',
});

afterAll(async () => {
  await deleteKeys('test-streams-*');
});
