import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectionTrap, malformedMessagesCase } from '@proxystream/contract-tests';
import { StoreNotAllowedError, type Subscriber } from '@proxystream/protocols';
import {
  encodeBatch,
  SERIALIZER_MARKER,
  SERIALIZER_VERSION,
  StreamConsumer,
} from '@proxystream/stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamSubscriber, NatsObjectStoreFactory, NatsSubscriber } from '../src/index.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from './support.js';

// Raw client: what a broken or hostile producer would use, bypassing the shims' publishers.
let raw: NatsConnection;
beforeAll(async () => {
  await ensureTestStream();
  raw = await connect({ servers: NATS_URL });
});
afterAll(async () => {
  await raw.close();
});

/** The serializer's marker and version, then a tag no version defines. */
const poisonPayload = Uint8Array.of(...SERIALIZER_MARKER, SERIALIZER_VERSION, 0xee);

const consumerOf = (subscriber: Subscriber, topic: string) =>
  new StreamConsumer(subscriber, { topics: [topic] });

malformedMessagesCase({
  name: 'core NATS',
  openConsumer: async (topic) =>
    consumerOf(await NatsSubscriber.create(topic, { connection: { servers: NATS_URL } }), topic),
  publishRaw: async (topic, message) => {
    raw.publish(topic, message);
    // Wait for the server to have it: publishes are buffered by the client otherwise.
    await raw.flush();
  },
  encode: encodeBatch,
  poisonPayload,
});

malformedMessagesCase({
  name: 'JetStream',
  openConsumer: async (topic) =>
    consumerOf(
      await JetStreamSubscriber.create(topic, {
        connection: { servers: NATS_URL },
        ...TEST_STREAM,
        group: 'bad-input',
      }),
      topic,
    ),
  publishRaw: async (topic, message) => {
    await jetstream(raw).publish(`${TEST_STREAM.subjectPrefix}.${topic}`, message);
  },
  encode: encodeBatch,
  poisonPayload,
});

describe('store configs from the wire', () => {
  it('NatsObjectStoreFactory refuses servers it was not allowed with StoreNotAllowedError and connects to none of them', async () => {
    const trap = await connectionTrap();
    const port = trap.port;
    try {
      const factory = new NatsObjectStoreFactory({ allowedServers: [NATS_URL] });
      const config = { kind: 'nats-object', name: 'b', bucket: 'b' };
      for (const servers of [
        [`127.0.0.1:${port}`],
        [`nats://127.0.0.1:${port}`],
        [NATS_URL, `127.0.0.1:${port}`],
        [`nats://streamer:secret@127.0.0.1:${port}`],
        [`localhost:${port}`],
      ]) {
        const error = await factory.open({ ...config, servers }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreNotAllowedError);
        expect((error as Error).message).not.toContain('secret');
      }
      // open() connects before it resolves: had it tried, the trap would have seen it by now.
      expect(trap.connections()).toBe(0);
    } finally {
      await trap.close();
    }
  });
});
