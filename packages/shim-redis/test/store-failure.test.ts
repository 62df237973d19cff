import {
  type LocalServer,
  startLocalServer,
  storeServerGoneCase,
} from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { answersPing } from './env.js';

// A redis-server of this file's own on a free port: killing it must not disturb the shared one.
let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({
    command: 'redis-server',
    args: ({ port }) => [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    ready: (port) => answersPing({ host: '127.0.0.1', port }),
  });
});
afterAll(() => server.stop('SIGKILL'));

describe('a Redis store whose server went away', () => {
  // A store-owned connection gives up after STORE_MAX_RETRIES_PER_REQUEST reconnection attempts.
  storeServerGoneCase({
    stream,
    openStore: async () =>
      new RedisStore({ connection: { host: '127.0.0.1', port: server.port }, prefix: 'failure:' }),
    factory: () => new RedisStoreFactory({ allowedHosts: [`127.0.0.1:${server.port}`] }),
    stopServer: () => server.kill(),
  });
});
