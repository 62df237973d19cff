import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { isProxyReference } from '../src/proxy-reference.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { drain, recordingEventPublisher, recordingPublisher, topicName } from './helpers.js';

interface Frame {
  index: number;
  pixels: Uint8Array;
}

const COUNT = 7;
const frame = (index: number): Frame => ({
  index,
  pixels: Uint8Array.from({ length: 50 }, (_, i) => (i * index) & 255),
});

describe.each([1, 2, 3])('batch size %i', (batchSize) => {
  describe.each(['inline', 'store-backed'] as const)('%s objects', (placement) => {
    describe.each(['message', 'event'] as const)('through a %s publisher', (variant) => {
      it('arrive complete, in order, with their metadata, followed by the end of the stream', async () => {
        const broker = new InProcessBroker();
        const topic = topicName(`matrix-${batchSize}-${placement}-${variant}`);
        const store = placement === 'store-backed' ? await MemoryStore.create() : undefined;
        const subscriber =
          variant === 'event'
            ? await broker.eventSubscriber(topic)
            : await broker.subscriber(topic);
        const publisher =
          variant === 'event'
            ? recordingEventPublisher(broker.eventPublisher())
            : recordingPublisher(broker.publisher());
        const producer = new StreamProducer<Frame>(publisher, { batchSize, defaultStore: store });
        const consumer = new StreamConsumer<Frame>(subscriber, {
          stores: [new MemoryStoreFactory()],
        });

        for (let i = 0; i < COUNT; i++)
          await producer.send(topic, frame(i), { metadata: { index: i } });
        await producer.close({ topics: [topic] });

        const received = await drain(consumer.iterWithMetadata());
        expect(received.map((r) => r.metadata)).toEqual(
          Array.from({ length: COUNT }, (_, index) => ({ index })),
        );
        for (const [i, { value: item }] of received.entries()) {
          expect(isProxyReference(item)).toBe(placement === 'store-backed');
          expect(item.isReference).toBe(placement === 'store-backed');
          expect(await item.resolve()).toEqual(frame(i));
        }
        // Full batches, then the last partial batch carrying the end of stream.
        const batches = publisher.batches;
        expect(batches).toHaveLength(Math.floor(COUNT / batchSize) + 1);
        expect(batches.map((b) => b.sequence)).toEqual(batches.map((_, i) => i));
        expect(batches.slice(0, -1).every((b) => b.events.length === batchSize)).toBe(true);
        expect(batches.at(-1)!.events.at(-1)).toEqual({ type: 'end-of-stream' });
        const bodies = new Set(
          batches.flatMap((b) =>
            b.events.flatMap((e) => (e.type === 'new-object' ? [e.body.kind] : [])),
          ),
        );
        expect(bodies).toEqual(
          new Set([
            placement === 'store-backed' ? 'stored' : variant === 'event' ? 'live' : 'inline',
          ]),
        );
        // Every one-shot object was deleted from the store when resolved.
        if (store !== undefined) expect(store.size).toBe(0);
        expect(consumer.ended).toBe(true);
        await consumer.close();
        await broker.close();
      });
    });
  });
});
