import { type ChildProcess, spawn } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  acceptsConnections,
  type LocalServer,
  startLocalServer,
  within,
} from '@proxystream/contract-tests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, JetStreamSubscriber } from '../src/index.js';

// A nats-server of this file's own, restarted on the same port and store directory (so the
// stream survives): restarting the shared one would break the other files' cases.
let server: LocalServer;
let restarted: ChildProcess | undefined;
const serverArgs = (port: number, directory: string) => [
  '-js',
  '-a',
  '127.0.0.1',
  '-p',
  String(port),
  '-sd',
  directory,
];
const servers = () => `127.0.0.1:${server.port}`;
const STREAM = { stream: 'RESTART', subjectPrefix: 'restart' } as const;

beforeAll(async () => {
  server = await startLocalServer({
    command: 'nats-server',
    args: ({ port, directory }) => serverArgs(port, directory),
  });
  await ensureStream({
    connection: { servers: servers() },
    name: STREAM.stream,
    ...STREAM,
    storage: 'file',
  });
});
afterAll(async () => {
  if (restarted !== undefined && restarted.exitCode === null) {
    const gone = new Promise((resolve) => restarted?.once('exit', resolve));
    restarted.kill('SIGKILL');
    await gone;
  }
  await server.stop('SIGKILL');
});

/** Stops the server and starts it again on the same port and store; resolves with a connection. */
async function restartServer(): Promise<NatsConnection> {
  await server.kill('SIGTERM');
  restarted = spawn('nats-server', serverArgs(server.port, server.directory), { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!(await acceptsConnections(server.port))) {
    if (Date.now() > deadline) throw new Error('nats-server did not come back within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return connect({ servers: servers() });
}

/** Resolves once JetStream answers for the stream again after a restart. */
async function streamReady(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await jsm.streams.info(STREAM.stream).then(
      () => true,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error('JetStream did not come back within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function publishNumbered(nc: NatsConnection, topic: string, from: number, count: number) {
  const js = jetstream(nc);
  const sends: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) {
    const data = new Uint8Array(100);
    new DataView(data.buffer).setUint32(0, i);
    sends.push(js.publish(`${STREAM.subjectPrefix}.${topic}`, data));
  }
  await Promise.all(sends);
}

const numberOf = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset).getUint32(0);

describe('JetStream without a group, across a server restart', () => {
  it('pulls full batches after the restart from one new consumer, losing and repeating nothing', async () => {
    const topic = 'steady';
    const before = 1_000;
    const after = 3_000;
    let nc = await connect({ servers: servers() });
    await publishNumbered(nc, topic, 0, before);
    await nc.close();
    const subscriber = await JetStreamSubscriber.create(topic, {
      connection: { servers: servers() },
      ...STREAM,
    });
    try {
      const seen: number[] = [];
      for (let i = 0; i < before; i++) {
        const { value } = await within(subscriber.next(), 10_000, `message ${i}`);
        seen.push(numberOf(value));
      }
      // Published after the restart, so none of them can have been pulled before it.
      nc = await restartServer();
      // The server announces every consumer it creates on the stream.
      const created = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${STREAM.stream}.>`);
      await streamReady(nc);
      await publishNumbered(nc, topic, before, after);
      seen.push(numberOf((await within(subscriber.next(), 30_000, 'first after restart')).value));
      // Each pull asks for 256 messages: at full speed the rest take well under 0.3 s. With the
      // client's ordered consumer reused after the restart each pull took ~3 s (two missed
      // heartbeats) — over 30 s for these.
      const started = Date.now();
      for (let i = 1; i < after; i++) {
        const { value } = await within(subscriber.next(), 10_000, `message ${before + i}`);
        seen.push(numberOf(value));
      }
      const elapsed = Date.now() - started;
      expect(seen).toEqual(Array.from({ length: before + after }, (_, i) => i));
      // The reused client made two consumers per pull (about 24 here); a fresh ordered
      // consumer is one, made once (possibly before `created` subscribed).
      await nc.flush();
      expect(created.getReceived()).toBeLessThanOrEqual(2);
      expect(elapsed).toBeLessThan(3_000);
    } finally {
      await subscriber.close();
      await nc.close();
    }
  });
});
