import { uniqueTopic } from '@proxystream/contract-tests';
import type { Publisher, Subscriber } from '@proxystream/protocols';
import { isProxyReference, StreamConsumer, StreamProducer } from '@proxystream/stream';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  JetStreamPublisher,
  JetStreamSubscriber,
  NatsPublisher,
  NatsSubscriber,
} from '../../src/index.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from '../support.js';
import { openTestStore, testFactory } from './object-store.js';

interface Shim {
  name: string;
  publisher(): Promise<Publisher>;
  subscriber(topic: string): Promise<Subscriber>;
}

const shims: Shim[] = [
  {
    name: 'core NATS',
    publisher: () => NatsPublisher.create({ connection: { servers: NATS_URL } }),
    subscriber: (topic) => NatsSubscriber.create(topic, { connection: { servers: NATS_URL } }),
  },
  {
    name: 'JetStream (group)',
    publisher: () =>
      JetStreamPublisher.create({ connection: { servers: NATS_URL }, ...TEST_STREAM }),
    subscriber: (topic) =>
      JetStreamSubscriber.create(topic, {
        connection: { servers: NATS_URL },
        ...TEST_STREAM,
        group: 'e2e',
      }),
  },
];

interface Item {
  index: number;
  text: string;
  bytes: Uint8Array;
}

const pattern = (size: number, seed: number) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 509) bytes[i] = (i + seed) % 251;
  bytes[size - 1] = seed % 256;
  return bytes;
};

/** StreamProducer → each shim → StreamConsumer, inline and with the object store. Runs last. */
export function endToEnd(): void {
  beforeAll(ensureTestStream);

  for (const shim of shims) {
    describe(`end to end over ${shim.name}`, () => {
      it('streams inline objects in order and ends at end of stream', async () => {
        const topic = uniqueTopic('e2e');
        const consumer = new StreamConsumer<Item>(await shim.subscriber(topic), {
          topics: [topic],
        });
        const producer = new StreamProducer<Item>(await shim.publisher(), { batchSize: 5 });
        const sent = Array.from({ length: 23 }, (_, index) => ({
          index,
          text: `item ${index}`,
          bytes: pattern(1000, index),
        }));
        for (const item of sent)
          await producer.send(topic, item, { metadata: { index: item.index } });
        await producer.close({ topics: [topic] });
        const received: Item[] = [];
        for await (const object of consumer.iterObjects()) received.push(object);
        expect(received.map((item) => item.index)).toEqual(sent.map((item) => item.index));
        for (const item of received) {
          expect(Buffer.from(item.bytes).equals(Buffer.from(pattern(1000, item.index)))).toBe(true);
        }
        await consumer.close();
      });

      it('streams references to the object store, including a 64 MiB object, and evicts them', async () => {
        const topic = uniqueTopic('e2e');
        const store = await openTestStore();
        const consumer = new StreamConsumer<Uint8Array>(await shim.subscriber(topic), {
          topics: [topic],
          stores: [testFactory()],
        });
        const producer = new StreamProducer<Uint8Array>(await shim.publisher(), {
          defaultStore: store,
          batchSize: 2,
        });
        const sizes = [10, 200_000, 3 * 1024 * 1024, 64 * 1024 * 1024, 1];
        for (const [seed, size] of sizes.entries()) await producer.send(topic, pattern(size, seed));
        await producer.close({ topics: [topic] });
        let seed = 0;
        for await (const item of consumer) {
          expect(isProxyReference(item)).toBe(true);
          if (!isProxyReference(item)) break;
          const data = (await item.resolve()) as Uint8Array;
          expect(data.byteLength).toBe(sizes[seed]);
          expect(Buffer.from(data).equals(Buffer.from(pattern(sizes[seed]!, seed)))).toBe(true);
          expect(await store.exists(item.key)).toBe(false); // one-shot: evicted after resolve
          seed++;
        }
        expect(seed).toBe(sizes.length);
        await consumer.close({ stores: true });
        await store.close();
      });
    });
  }
}
