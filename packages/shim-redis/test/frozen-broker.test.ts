import { frozenBrokerCase, type LocalServer } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe } from 'vitest';
import {
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';
import { privateRedis } from './env.js';

// A redis-server of this file's own: freezing it must not disturb the shared one.
let server: LocalServer;
beforeAll(async () => {
  server = await privateRedis();
});
afterAll(() => server.stop('SIGKILL'));

const connection = () => ({ host: '127.0.0.1', port: server.port });
const freeze = async () => void server.process.kill('SIGSTOP');
const thaw = async () => void server.process.kill('SIGCONT');

describe('Redis shims against a frozen broker', () => {
  frozenBrokerCase({
    name: 'pub/sub',
    stream,
    freeze,
    thaw,
    createPublisher: async () => new RedisPubSubPublisher({ connection: connection() }),
    createSubscriber: (topic) => RedisPubSubSubscriber.create(topic, { connection: connection() }),
  });
  frozenBrokerCase({
    name: 'list queue',
    stream,
    freeze,
    thaw,
    createPublisher: async () => new RedisQueuePublisher({ connection: connection() }),
    createSubscriber: (topic) => RedisQueueSubscriber.create(topic, { connection: connection() }),
  });
  frozenBrokerCase({
    name: 'streams',
    stream,
    freeze,
    thaw,
    createPublisher: async () => new RedisStreamsPublisher({ connection: connection() }),
    createSubscriber: (topic) => RedisStreamsSubscriber.create(topic, { connection: connection() }),
  });
});
