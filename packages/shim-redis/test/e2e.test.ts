import { randomBytes } from 'node:crypto';
import { uniqueTopic, waitFor, within } from '@proxystream/contract-tests';
import {
  MessagesLostError,
  type Publisher,
  SequenceGapError,
  type Store,
  type Subscriber,
} from '@proxystream/protocols';
import { isProxyReference, StreamConsumer, StreamProducer } from '@proxystream/stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PUBSUB_MAX_MESSAGE_SIZE,
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStore,
  RedisStoreFactory,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';
import { adminClient, clientIdByName, deleteKeys, REDIS_URL } from './env.js';

const storePrefix = `e2e-store-${process.pid}:`;
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('e2e-*');
});

interface Shim {
  name: string;
  publisher(): Publisher;
  subscriber(topic: string): Promise<Subscriber>;
  /** Largest object sent inline: below the shim's message limit once wrapped in an envelope. */
  inlineLarge: number;
}

const MiB = 1024 * 1024;
const shims: Shim[] = [
  {
    name: 'pub/sub',
    publisher: () => new RedisPubSubPublisher({ connection: REDIS_URL }),
    subscriber: (topic) => RedisPubSubSubscriber.create(topic, { connection: REDIS_URL }),
    inlineLarge: PUBSUB_MAX_MESSAGE_SIZE - 64 * 1024,
  },
  {
    name: 'list queue',
    publisher: () => new RedisQueuePublisher({ connection: REDIS_URL }),
    subscriber: (topic) => RedisQueueSubscriber.create(topic, { connection: REDIS_URL }),
    inlineLarge: 16 * MiB,
  },
  {
    name: 'streams',
    publisher: () => new RedisStreamsPublisher({ connection: REDIS_URL }),
    subscriber: (topic) =>
      RedisStreamsSubscriber.create(topic, { connection: REDIS_URL, group: 'e2e' }),
    inlineLarge: 16 * MiB,
  },
];

const same = (a: unknown, b: Uint8Array) =>
  a instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

async function roundTrip(shim: Shim, store: Store | undefined, large: number): Promise<void> {
  const topic = uniqueTopic('e2e');
  const subscriber = await shim.subscriber(topic);
  const consumer = new StreamConsumer<unknown>(subscriber, {
    topics: [topic],
    stores: [
      new RedisStoreFactory({
        allowedHosts: [new URL(REDIS_URL).hostname],
        allowedPrefixes: [storePrefix],
      }),
    ],
  });
  const producer = new StreamProducer<unknown>(
    shim.publisher(),
    store ? { defaultStore: store } : {},
  );
  const big = randomBytes(large);
  const sent: unknown[] = [];
  for (let i = 0; i < 20; i++) sent.push({ index: i, text: `object ${i}` });
  sent.push(big);
  const progress: unknown[] = [];
  const reading = (async () => {
    const items: Array<{ object: unknown; stored: boolean }> = progress as never;
    for await (const item of consumer) {
      const stored = isProxyReference(item);
      items.push({ object: stored ? await item.resolve() : item, stored });
    }
    return items;
  })();
  for (const [i, object] of sent.entries()) await producer.send(topic, object, { metadata: { i } });
  await producer.close({ topics: [topic] });
  const items = await within(reading, 60_000, 'reading the stream').catch((error: unknown) => {
    throw new Error(`${progress.length} items read`, { cause: error });
  });
  expect(items).toHaveLength(sent.length);
  expect(items.every((item) => item.stored === (store !== undefined))).toBe(true);
  expect(items.slice(0, 20).map((item) => item.object)).toEqual(sent.slice(0, 20));
  expect(same(items[20]!.object, big)).toBe(true);
  await consumer.close({ stores: true });
}

describe('StreamProducer → Redis shim → StreamConsumer', () => {
  for (const shim of shims) {
    it(`${shim.name}: objects travel inline, the largest ${shim.inlineLarge >= 16 * MiB ? '16 MiB' : 'just under the message limit'}`, async () => {
      await roundTrip(shim, undefined, shim.inlineLarge);
    });

    it(`${shim.name}: objects travel through the Redis store, including one of 16 MiB`, async () => {
      const store = new RedisStore({ connection: REDIS_URL, prefix: storePrefix });
      await roundTrip(shim, store, 16 * MiB);
      await store.close();
    });
  }

  it('pub/sub: a connection killed mid-stream shows up as a sequence gap at the consumer', async () => {
    const topic = uniqueTopic('e2e-gap');
    const name = `e2e-gap-${randomBytes(4).toString('hex')}`;
    const url = new URL(REDIS_URL);
    const losses: MessagesLostError[] = [];
    const subscriber = await RedisPubSubSubscriber.create(topic, {
      connection: { host: url.hostname, port: Number(url.port || 6379), connectionName: name },
      onLoss: (error) => losses.push(error),
    });
    const gaps: SequenceGapError[] = [];
    const consumer = new StreamConsumer<number>(subscriber, {
      topics: [topic],
      onGap: (gap) => gaps.push(gap),
    });
    const producer = new StreamProducer<number>(
      new RedisPubSubPublisher({ connection: REDIS_URL }),
    );
    const received: number[] = [];
    const lossErrors: unknown[] = [];
    const reading = (async () => {
      for (;;) {
        // The shim reports the cut connection from next() as MessagesLostError; the stream goes on.
        const result = await consumer.next().catch((error: unknown) => {
          if (!(error instanceof MessagesLostError)) throw error;
          lossErrors.push(error);
          return undefined;
        });
        if (result === undefined) continue;
        if (result.done === true) return;
        received.push(result.value as number);
      }
    })();
    let sent = 0;
    const sendOne = async () => {
      await producer.send(topic, sent++);
      await new Promise((resolve) => setTimeout(resolve, 1));
    };
    while (received.length < 50) await sendOne();
    const id = await clientIdByName(admin, name);
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    // Keep sending through the outage until the consumer has seen the gap.
    const deadline = Date.now() + 20_000;
    while (gaps.length === 0 && Date.now() < deadline) await sendOne();
    await producer.close({ topics: [topic] });
    await within(reading, 20_000, 'reading to the end of the stream');
    expect(losses.length).toBeGreaterThanOrEqual(1);
    expect(losses[0]).toBeInstanceOf(MessagesLostError);
    expect(lossErrors).toHaveLength(losses.length);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toBeInstanceOf(SequenceGapError);
    expect(gaps[0]!.missing).toBeGreaterThan(0);
    // Every object is either received or counted in the gap, and what was received is in order.
    expect(received.length + gaps[0]!.missing).toBe(sent);
    expect([...received].sort((a, b) => a - b)).toEqual(received);
    expect(await waitFor(() => subscriber.connectionLosses === 1, 1_000)).toBe(true);
  });
});
