import { type LocalServer, storeServerGoneCase } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { privateRedis } from './env.js';

// A redis-server of this file's own on a free port: killing it must not disturb the shared one.
let server: LocalServer;

beforeAll(async () => {
  server = await privateRedis();
});
afterAll(() => server.stop('SIGKILL'));

describe('a Redis store whose server went away', () => {
  // A store-owned connection gives up after STORE_MAX_RETRIES_PER_REQUEST reconnection attempts.
  storeServerGoneCase({
    stream,
    openStore: () =>
      RedisStore.create({
        connection: { host: '127.0.0.1', port: server.port },
        prefix: 'failure:',
      }),
    factory: () =>
      new RedisStoreFactory({
        allowedServers: [`127.0.0.1:${server.port}`],
        allowedPrefixes: ['failure:'],
      }),
    stopServer: () => server.kill(),
  });
});
