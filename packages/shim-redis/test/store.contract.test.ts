import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import { afterAll } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { deleteKeys, REDIS_URL } from './env.js';

const prefix = `test-store-${process.pid}:`;
const factory = new RedisStoreFactory({
  allowedHosts: ['127.0.0.1', 'localhost'],
  allowedPrefixes: [prefix],
});

storeContract({
  name: 'redis store',
  createStore: async () => new RedisStore({ connection: REDIS_URL, prefix }),
  openFromConfig: (config) => factory.open(config),
});

longKeyMessageCase({
  name: 'redis store',
  createStore: async () => new RedisStore({ connection: REDIS_URL, prefix }),
});

afterAll(async () => {
  await deleteKeys(`${prefix}*`);
});
