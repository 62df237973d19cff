import {
  freezeProcess,
  frozenBrokerCase,
  type LocalServer,
  thawProcess,
} from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe } from 'vitest';
import { privateRedis } from './env.js';
import { messagingShims } from './messaging-shims.js';

// A redis-server of this file's own: freezing it must not disturb the shared one.
let server: LocalServer;
beforeAll(async () => {
  server = await privateRedis();
});
afterAll(() => server.stop('SIGKILL'));

const connection = () => ({ host: '127.0.0.1', port: server.port });

describe('Redis shims against a frozen broker', () => {
  for (const shim of messagingShims) {
    frozenBrokerCase({
      name: shim.name,
      stream,
      freeze: () => freezeProcess(server.process.pid!),
      thaw: () => thawProcess(server.process.pid!),
      createPublisher: async () => shim.publisher(connection()),
      createSubscriber: (topic) => shim.subscriber(topic, connection(), 'frozen'),
    });
  }
});
