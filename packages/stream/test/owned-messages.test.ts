import type { Publisher } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { ThreadsBroker, ThreadsPublisher, ThreadsSubscriber } from '../src/index.js';
import { MemoryStore } from '../src/memory-store.js';
import { StreamProducer } from '../src/stream-producer.js';
import { countingStore, gatedPublisher, topicName, within } from './helpers.js';

/** The first message `subscriber` yields. */
async function first(subscriber: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  for await (const message of subscriber) return message;
  throw new Error('the subscriber ended without a message');
}

describe('messages handed over with { owned: true }', () => {
  it('the in-process byte publisher delivers a handed-over message itself, and a copy otherwise', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('owned');
    const copying = await broker.subscriber(topic);
    const publisher = broker.publisher();
    const kept = Uint8Array.of(1, 2, 3);
    await publisher.send(topic, kept);
    kept.fill(0);
    const copy = await within(first(copying), 5_000, 'the copied message');
    expect(copy).not.toBe(kept);
    expect(Array.from(copy)).toEqual([1, 2, 3]);

    const owning = await broker.subscriber(topic);
    const handedOver = Uint8Array.of(4, 5, 6);
    await publisher.send(topic, handedOver, { owned: true });
    expect(await within(first(owning), 5_000, 'the handed-over message')).toBe(handedOver);
    await broker.close();
  });

  it('StreamProducer hands every envelope over: the subscriber gets the very bytes it encoded', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('owned-envelope');
    const subscriber = await broker.subscriber(topic);
    const inner = broker.publisher();
    const given: { message: Uint8Array; owned: boolean | undefined }[] = [];
    const publisher: Publisher = {
      send(to, message, options) {
        given.push({ message, owned: options?.owned });
        return inner.send(to, message, options);
      },
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
    };
    const producer = new StreamProducer<Uint8Array>(publisher);
    await producer.send(topic, new Uint8Array(1024).fill(7));
    const received = await within(first(subscriber), 5_000, 'the envelope');
    expect(given).toHaveLength(1);
    expect(given[0]!.owned).toBe(true);
    expect(received).toBe(given[0]!.message);
    await producer.close();
    await broker.close();
  });

  it('the worker-threads publisher moves a handed-over envelope to the broker instead of copying it', async () => {
    await using broker = await ThreadsBroker.create();
    const topic = topicName('owned-threads');
    await using subscriber = await ThreadsSubscriber.create(topic, { connection: broker });
    const inner = await ThreadsPublisher.create({ connection: broker });
    const given: Uint8Array[] = [];
    const publisher: Publisher = {
      send(to, message, options) {
        given.push(message);
        return inner.send(to, message, options);
      },
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
    };
    const producer = new StreamProducer<Uint8Array>(publisher);
    // 64 KiB: an envelope of its own (not a slice of Node's buffer pool), so it can be moved.
    await producer.send(topic, new Uint8Array(64 * 1024).fill(3));
    const received = await within(first(subscriber), 5_000, 'the envelope');
    expect(received.byteLength).toBeGreaterThan(64 * 1024);
    // Moved: the producer's envelope is detached, its bytes now belong to the subscriber's thread.
    expect(given[0]!.byteLength).toBe(0);
    await producer.close();
  });

  it('MemoryStore keeps data handed over with { owned: true } itself, and a copy otherwise', async () => {
    await using store = await MemoryStore.create();
    const copied = Uint8Array.of(1, 2);
    const handedOver = Uint8Array.of(3, 4);
    const [copyKey, ownKey] = [
      await store.put(copied),
      await store.put(handedOver, { owned: true }),
    ];
    expect(await store.get(copyKey)).not.toBe(copied);
    expect(await store.get(ownKey)).toBe(handedOver);
    const batch = [Uint8Array.of(5), Uint8Array.of(6)];
    const keys = await store.putBatch(batch, { owned: true });
    expect(await store.get(keys[1]!)).toBe(batch[1]);
    store.clear();
  });

  it('StreamProducer puts objects sent with { owned: true } without a copy, and a batch mixing them with others with one', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const memory = await MemoryStore.create();
    const store = countingStore(memory);
    const seen: Uint8Array[] = [];
    const put = store.put;
    store.put = async (data, options) => {
      const key = await put(data, options);
      seen.push((await memory.get(key))!);
      return key;
    };
    const producer = new StreamProducer<Uint8Array>(publisher, { defaultStore: store });
    const handedOver = new Uint8Array(1024).fill(1);
    const sent = producer.send('t', handedOver, { owned: true });
    (await nextCall(0)).gate.resolve();
    await sent;
    const kept = new Uint8Array(1024).fill(2);
    const second = producer.send('t', kept);
    (await nextCall(1)).gate.resolve();
    await second;
    expect(seen[0]).toBe(handedOver);
    expect(seen[1]).not.toBe(kept);
    // A fixed batch of one handed-over object and one not is put as a copy, both objects.
    const options: unknown[] = [];
    const fixed = new StreamProducer<Uint8Array>(publisher, {
      defaultStore: {
        ...store,
        putBatch: (data, given) => {
          options.push(given);
          return memory.putBatch(data, given);
        },
      },
      batchSize: 2,
    });
    await fixed.send('u', new Uint8Array(8).fill(3), { owned: true });
    const full = fixed.send('u', new Uint8Array(8).fill(4));
    (await nextCall(2)).gate.resolve();
    await full;
    expect(options).toEqual([undefined]);
    memory.clear();
  });
});
