import {
  freePort,
  type LocalServer,
  storeServerGoneCase,
  within,
} from '@proxystream/contract-tests';
import { StoreError } from '@proxystream/protocols';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsObjectStore, NatsObjectStoreFactory } from '../src/index.js';
import { privateNats } from './support.js';

// A nats-server of this file's own on a free port: killing it must not disturb the shared one.
let server: LocalServer;
const servers = () => `127.0.0.1:${server.port}`;

beforeAll(async () => {
  server = await privateNats();
});
afterAll(() => server.stop('SIGKILL'));

describe('a NATS object store whose server went away', () => {
  storeServerGoneCase({
    stream,
    openStore: () =>
      NatsObjectStore.create({
        connection: { servers: servers() },
        bucket: 'failure',
        create: {},
      }),
    factory: () => new NatsObjectStoreFactory({ allowedServers: [servers()] }),
    stopServer: () => server.kill(),
  });

  it('a config naming a server that is down fails to open with StoreError, not a hang', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const factory = new NatsObjectStoreFactory({ allowedServers: [down] });
    const error = await within(
      factory
        .open({ kind: 'nats-object', name: 'x', bucket: 'x', servers: [down] })
        .catch((e: unknown) => e),
      60_000,
      'open against a server that is down',
    );
    expect(error).toBeInstanceOf(StoreError);
  });
});
