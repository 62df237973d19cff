import { connectionTrap, label, uniqueTopic, within } from '@proxystream/contract-tests';
import { StoreNotAllowedError } from '@proxystream/protocols';
import { encodeBatch, StreamConsumer } from '@proxystream/stream';
import { describe, expect, it } from 'vitest';
import { JetStreamPublisher, JetStreamSubscriber, NatsObjectStoreFactory } from '../src/index.js';
import { openTestStore, TEST_BUCKET } from './suites/object-store.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from './support.js';

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('NatsObjectStoreFactory: what a config from the wire may name', () => {
  it('a consumer with allowedBuckets refuses a forged event naming another bucket: StoreNotAllowedError, the object neither read nor deleted', async () => {
    await ensureTestStream();
    const victim = await openTestStore();
    const key = await victim.put(label('another application'));
    const topic = uniqueTopic('store-factory-bucket');
    const consumer = new StreamConsumer(
      await JetStreamSubscriber.create(topic, {
        connection: { servers: NATS_URL },
        ...TEST_STREAM,
        group: 'store-factory',
      }),
      {
        topics: [topic],
        stores: [
          new NatsObjectStoreFactory({
            allowedServers: [NATS_URL],
            allowedBuckets: ['store-factory-mine'],
          }),
        ],
      },
    );
    const publisher = await JetStreamPublisher.create({
      connection: { servers: NATS_URL },
      ...TEST_STREAM,
    });
    try {
      await publisher.send(
        topic,
        encodeBatch({
          topic,
          producerId: 'rogue',
          sequence: 0,
          store: victim.config(),
          events: [
            { type: 'new-object', metadata: {}, evict: true, body: { kind: 'stored', key } },
          ],
        }),
      );
      await publisher.send(
        topic,
        encodeBatch({
          topic,
          producerId: 'rogue',
          sequence: 1,
          events: [{ type: 'end-of-stream' }],
        }),
      );
      const error = await within(caught(consumer.nextObject()), 10_000, 'the forged event');
      expect(error).toBeInstanceOf(StoreNotAllowedError);
      expect((error as Error).message).toContain(TEST_BUCKET);
      expect(await within(consumer.nextObject(), 10_000, 'end')).toEqual({
        done: true,
        value: undefined,
      });
      expect(await victim.exists(key)).toBe(true);
    } finally {
      await consumer.close();
      await publisher.close();
      await victim.evict(key);
      await victim.close();
    }
  });

  it('allowedServers: a bare host means its default port 4222 only, host:port that one port', async () => {
    const trap = await connectionTrap();
    const store = await openTestStore();
    try {
      const config = store.config();
      const atTrap = { ...config, servers: [`127.0.0.1:${trap.port}`] };
      const bare = new NatsObjectStoreFactory({ allowedServers: ['127.0.0.1'] });
      expect(await caught(bare.open(atTrap))).toBeInstanceOf(StoreNotAllowedError);
      const exact = new NatsObjectStoreFactory({
        allowedServers: [`127.0.0.1:${trap.port}`],
        connection: { timeout: 1_000 },
      });
      expect(
        await caught(exact.open({ ...config, servers: ['nats://127.0.0.1:4222'] })),
      ).toBeInstanceOf(StoreNotAllowedError);
      expect(trap.connections()).toBe(0);
      // The controls: the bare host does open port 4222, and the exact entry does reach its port.
      if (new URL(NATS_URL).port === '4222' || new URL(NATS_URL).port === '') {
        await (await bare.open({ ...config, servers: ['nats://127.0.0.1:4222'] })).close();
      }
      await caught(within(exact.open(atTrap), 10_000, 'opening at the trap'));
      expect(trap.connections()).toBeGreaterThan(0);
    } finally {
      await store.close();
      await trap.close();
    }
  });
});
