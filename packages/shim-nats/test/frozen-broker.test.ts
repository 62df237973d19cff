import {
  freezeProcess,
  frozenBrokerCase,
  type LocalServer,
  thawProcess,
} from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { afterAll, beforeAll, describe } from 'vitest';
import {
  ensureStream,
  JetStreamPublisher,
  JetStreamSubscriber,
  NatsPublisher,
  NatsSubscriber,
} from '../src/index.js';
import { privateNats } from './support.js';

// A nats-server of this file's own: freezing it must not disturb the shared one.
let server: LocalServer;
const servers = () => `127.0.0.1:${server.port}`;
beforeAll(async () => {
  server = await privateNats();
  await ensureStream({ connection: { servers: servers() } });
});
afterAll(() => server.stop('SIGKILL'));

const freeze = () => freezeProcess(server.process.pid!);
const thaw = () => thawProcess(server.process.pid!);

describe('NATS shims against a frozen broker', () => {
  frozenBrokerCase({
    name: 'core NATS',
    stream,
    freeze,
    thaw,
    createPublisher: () => NatsPublisher.create({ connection: { servers: servers() } }),
    createSubscriber: (topic) =>
      NatsSubscriber.create(topic, { connection: { servers: servers() } }),
  });
  frozenBrokerCase({
    name: 'JetStream',
    stream,
    freeze,
    thaw,
    createPublisher: () => JetStreamPublisher.create({ connection: { servers: servers() } }),
    createSubscriber: (topic) =>
      JetStreamSubscriber.create(topic, { connection: { servers: servers() } }),
  });
});
