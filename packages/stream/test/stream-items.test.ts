import { AbortedError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { ProxyReference } from '../src/proxy-reference.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { InlineItem } from '../src/stream-item.js';
import { StreamProducer } from '../src/stream-producer.js';
import { drain, topicName } from './helpers.js';

describe('consumer items', () => {
  it('inline and stored items both resolve to the object, typed, without a cast', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('items');
    const store = await MemoryStore.create();
    const consumer = new StreamConsumer<Uint8Array>(await broker.subscriber(topic), {
      stores: [new MemoryStoreFactory()],
    });
    const producer = new StreamProducer<Uint8Array>(broker.publisher(), {
      defaultStore: store,
      inlineBelow: 16,
    });
    await producer.send(topic, new Uint8Array(4).fill(1));
    await producer.send(topic, new Uint8Array(64).fill(2));
    await producer.close({ topics: [topic] });
    const items = await drain(consumer.iterWithMetadata());
    const [small, large] = items.map(({ value }) => value);
    expect(small).toBeInstanceOf(InlineItem);
    expect(small?.isReference).toBe(false);
    expect(small?.reference).toBeUndefined();
    expect(large).toBeInstanceOf(ProxyReference);
    expect(large?.isReference).toBe(true);
    // The reference to hand on is typed: no cast needed to call toJSON().
    const reference: ProxyReference<Uint8Array> | undefined = large?.reference;
    expect(reference?.toJSON().type).toBe('proxystream.reference');
    const bytes: Uint8Array[] = await Promise.all(items.map(({ value }) => value.resolve()));
    expect(bytes.map((b) => b.byteLength)).toEqual([4, 64]);
    store.clear();
  });

  it('an inline item refuses an already aborted signal like a reference does', async () => {
    const item = new InlineItem('x');
    expect(item.resolved).toBe(true);
    await expect(item.resolve()).resolves.toBe('x');
    await expect(item.resolve({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
  });

  it('the metadata iterators yield one shape, { value, metadata }', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('item-shapes');
    const subscriber = await broker.eventSubscriber(topic);
    const producer = new StreamProducer<string>(broker.eventPublisher());
    await producer.send(topic, 'a', { metadata: { n: 1 } });
    await producer.send(topic, 'b', { metadata: { n: 2 } });
    await producer.close({ topics: [topic] });
    const consumer = new StreamConsumer<string>(subscriber);
    const first = await consumer.nextWithMetadata();
    expect(Object.keys(first.value ?? {}).sort()).toEqual(['metadata', 'value']);
    expect(await first.value?.value.resolve()).toBe('a');
    expect(await consumer.nextObjectWithMetadata()).toEqual({
      done: false,
      value: { value: 'b', metadata: { n: 2 } },
    });
  });
});
