import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import { afterAll } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { deleteKeys, REDIS_URL } from './env.js';

const prefix = `test-store-${process.pid}:`;
const url = new URL(REDIS_URL);
const factory = new RedisStoreFactory({
  allowedServers: [`${url.hostname}:${url.port || '6379'}`],
  allowedPrefixes: [prefix],
});
const createStore = () => RedisStore.create({ connection: REDIS_URL, prefix });

storeContract({
  name: 'redis store',
  createStore,
  openFromConfig: (config) => factory.open(config),
});
longKeyMessageCase({ name: 'redis store', createStore });

afterAll(async () => {
  await deleteKeys(`${prefix}*`);
});
