import type { Publisher } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { ThreadsBroker, ThreadsPublisher, ThreadsSubscriber } from '../src/index.js';
import { StreamProducer } from '../src/stream-producer.js';
import { topicName, within } from './helpers.js';

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
});
