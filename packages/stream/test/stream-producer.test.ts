import {
  ClosedError,
  type EventBatch,
  InvalidArgumentError,
  type Publisher,
  SendRefusedError,
  TopicClosedError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { isProxyReference } from '../src/proxy-reference.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { decodeBatch } from '../src/wire-codec.js';
import {
  countingStore,
  drain,
  gatedPublisher,
  isSettled,
  recordingEventPublisher,
  recordingPublisher,
  topicName,
  within,
} from './helpers.js';

async function setup(prefix: string) {
  const broker = new InProcessBroker();
  const topic = topicName(prefix);
  const subscriber = await broker.subscriber(topic);
  const publisher = recordingPublisher(broker.publisher());
  return { broker, topic, subscriber, publisher };
}

describe('StreamProducer', () => {
  it('send to a topic closed with closeTopics rejects with TopicClosedError', async () => {
    const { topic, publisher } = await setup('closed-topic');
    const producer = new StreamProducer(publisher);
    await producer.send(topic, 'before');
    await producer.closeTopics(topic);
    const error = await producer.send(topic, 'after').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TopicClosedError);
    expect((error as TopicClosedError).code).toBe('TOPIC_CLOSED');
    expect((error as TopicClosedError).topic).toBe(topic);
    await producer.send(topicName('other'), 'other topics still work');
  });

  it('never sends a second end of stream: not on closeTopics again, flush, flushTopic or close', async () => {
    const { topic, publisher } = await setup('single-eos');
    const producer = new StreamProducer(publisher, { batchSize: 2 });
    await producer.send(topic, 1);
    await producer.closeTopics(topic);
    await producer.closeTopics(topic);
    await producer.flush();
    await producer.flushTopic(topic);
    await producer.close({ topics: [topic] });
    const ends = publisher.batches.flatMap((b) =>
      b.events.filter((e) => e.type === 'end-of-stream'),
    );
    expect(ends).toHaveLength(1);
    expect(publisher.batches).toHaveLength(1);
  });

  it('closeTopics of a topic never sent to announces the producer and ends the topic', async () => {
    const { topic, subscriber, publisher } = await setup('empty-topic');
    const consumer = new StreamConsumer(subscriber);
    await new StreamProducer(publisher).close({ topics: [topic] });
    expect(await drain(consumer.iterObjects())).toEqual([]);
    expect(consumer.ended).toBe(true);
  });

  it('close() sends partial batches instead of dropping them', async () => {
    const { topic, subscriber, publisher } = await setup('close-flushes');
    const consumer = new StreamConsumer<number>(subscriber);
    const producer = new StreamProducer<number>(publisher, { batchSize: 10 });
    for (let i = 0; i < 3; i++) await producer.send(topic, i);
    expect(publisher.batches).toHaveLength(0);
    await producer.close({ topics: [topic] });
    expect(await drain(consumer.iterObjects())).toEqual([0, 1, 2]);
  });

  it('close({ publisher: false }) leaves the publisher usable by a new producer', async () => {
    const { topic, subscriber, publisher } = await setup('reuse-publisher');
    const consumer = new StreamConsumer<string>(subscriber, { minProducers: 2 });
    const first = new StreamProducer<string>(publisher, { batchSize: 2 });
    await first.send(topic, 'a');
    await first.close({ topics: [topic], publisher: false });
    expect(publisher.closed).toBe(0);
    await expect(first.send(topic, 'late')).rejects.toBeInstanceOf(ClosedError);
    const second = new StreamProducer<string>(publisher);
    expect(second.producerId).not.toBe(first.producerId);
    await second.send(topic, 'b');
    await second.close({ topics: [topic] });
    expect(publisher.closed).toBe(1);
    expect(await drain(consumer.iterObjects())).toEqual(['a', 'b']);
  });

  it('close() closes the publisher but not the stores unless asked', async () => {
    const { topic, publisher } = await setup('close-stores');
    const store = countingStore(await MemoryStore.create());
    const other = countingStore(await MemoryStore.create());
    const first = new StreamProducer(publisher, {
      defaultStore: store,
      stores: { [topic]: other },
    });
    await first.close();
    expect(publisher.closed).toBe(1);
    expect(store.calls.close + other.calls.close).toBe(0);
    const second = new StreamProducer(recordingPublisher(publisher), {
      defaultStore: store,
      stores: new Map([[topic, other]]),
    });
    await second.close({ stores: true, publisher: false });
    expect([store.calls.close, other.calls.close]).toEqual([1, 1]);
  });

  it('await using closes the producer', async () => {
    const { topic, subscriber, publisher } = await setup('dispose');
    const consumer = new StreamConsumer(subscriber);
    {
      const producer = new StreamProducer(publisher, { batchSize: 5 });
      await producer.send(topic, 'kept');
      await producer[Symbol.asyncDispose]();
      await expect(producer.send(topic, 'x')).rejects.toBeInstanceOf(ClosedError);
    }
    expect(publisher.closed).toBe(1);
    expect((await consumer.nextObject()).value).toBe('kept');
  });

  it('lingerMs sends a partial batch after the delay without any flush', async () => {
    const { topic, subscriber, publisher } = await setup('linger');
    const consumer = new StreamConsumer<number>(subscriber);
    const producer = new StreamProducer<number>(publisher, { batchSize: 100, lingerMs: 20 });
    await producer.send(topic, 1);
    await producer.send(topic, 2);
    expect(publisher.batches).toHaveLength(0);
    expect((await within(consumer.nextObject(), 5_000, 'linger flush')).value).toBe(1);
    expect((await consumer.nextObject()).value).toBe(2);
    expect(publisher.batches).toHaveLength(1);
    await producer.close({ topics: [topic] });
  });

  it('without lingerMs a partial batch waits for flushTopic', async () => {
    const { topic, subscriber, publisher } = await setup('no-linger');
    const consumer = new StreamConsumer<number>(subscriber);
    const producer = new StreamProducer<number>(publisher, { batchSize: 3 });
    await producer.send(topic, 1);
    const pending = consumer.nextObject();
    expect(await isSettled(pending)).toBe(false);
    await producer.flushTopic(topic);
    expect((await pending).value).toBe(1);
    await producer.close();
  });

  it('the aggregator turns a batch into one object whose metadata is the union of the batch', async () => {
    const { topic, subscriber, publisher } = await setup('aggregate');
    const consumer = new StreamConsumer<number[]>(subscriber, {
      stores: [new MemoryStoreFactory()],
    });
    const store = await MemoryStore.create();
    const producer = new StreamProducer<number[]>(publisher, {
      batchSize: 3,
      defaultStore: store,
      aggregator: (batches) => batches.flat(),
    });
    await producer.send(topic, [1], { metadata: { a: 1, shared: 'first' } });
    await producer.send(topic, [2, 3], { metadata: { b: 2 }, evict: false });
    await producer.send(topic, [4], { metadata: { shared: 'last' } });
    await producer.send(topic, [5], { metadata: { c: 3 } });
    await producer.close({ topics: [topic] });
    const received = await drain(consumer.iterWithMetadata());
    expect(received.map((r) => r.metadata)).toEqual([{ a: 1, b: 2, shared: 'last' }, { c: 3 }]);
    const [first, second] = received.map((r) => r.value.reference);
    // One object of the batch was not one-shot, so the aggregate is not either.
    expect([first!.evict, second!.evict]).toEqual([false, true]);
    expect(await first!.resolve()).toEqual([1, 2, 3, 4]);
    expect(await second!.resolve()).toEqual([5]);
    expect(store.size).toBe(1);
    store.clear();
  });

  it('the producer filter drops objects before they are buffered or stored', async () => {
    const { topic, subscriber, publisher } = await setup('producer-filter');
    const store = countingStore(await MemoryStore.create());
    const consumer = new StreamConsumer<number>(subscriber, { stores: [new MemoryStoreFactory()] });
    const producer = new StreamProducer<number>(publisher, {
      defaultStore: store,
      batchSize: 2,
      filter: (metadata) => metadata.drop === true,
    });
    for (let i = 0; i < 6; i++) await producer.send(topic, i, { metadata: { drop: i % 3 === 0 } });
    await producer.close({ topics: [topic] });
    expect(store.calls.put + store.calls.putBatch).toBe(2);
    expect(await drain(consumer.iterObjects())).toEqual([1, 2, 4, 5]);
  });

  it.each(['message', 'event'] as const)(
    'inlineBelow sends small objects inline and large ones to the store (%s publisher)',
    async (variant) => {
      const broker = new InProcessBroker();
      const topic = topicName(`inline-below-${variant}`);
      const store = await MemoryStore.create();
      const subscriber =
        variant === 'event' ? await broker.eventSubscriber(topic) : await broker.subscriber(topic);
      const publisher = variant === 'event' ? broker.eventPublisher() : broker.publisher();
      const consumer = new StreamConsumer<Uint8Array>(subscriber, {
        stores: [new MemoryStoreFactory()],
      });
      const producer = new StreamProducer<Uint8Array>(publisher, {
        stores: { [topic]: store },
        inlineBelow: 100,
        batchSize: 2,
      });
      const small = new Uint8Array(99).fill(1);
      const large = new Uint8Array(100).fill(2);
      await producer.send(topic, small);
      await producer.send(topic, large);
      await producer.close({ topics: [topic] });
      const [first, second] = await drain(consumer);
      expect(isProxyReference(first)).toBe(false);
      expect(first?.isReference).toBe(false);
      expect(await first?.resolve()).toEqual(small);
      expect(isProxyReference(second)).toBe(true);
      expect(await second?.resolve()).toEqual(large);
    },
  );

  it('a store-bound batch goes to the store in one putBatch', async () => {
    const { topic, publisher } = await setup('put-batch');
    const store = countingStore(await MemoryStore.create());
    const producer = new StreamProducer(publisher, { defaultStore: store, batchSize: 3 });
    for (let i = 0; i < 3; i++) await producer.send(topic, i);
    expect(store.calls).toMatchObject({ put: 0, putBatch: 1 });
    await producer.send(topic, 3);
    await producer.flush();
    expect(store.calls).toMatchObject({ put: 1, putBatch: 1 });
    await producer.close();
  });

  it('send resolves only when the publisher accepted the batch', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const producer = new StreamProducer(publisher, { batchSize: 2 });
    expect(await isSettled(producer.send('t', 1))).toBe(true);
    const completing = producer.send('t', 2);
    const call = await nextCall(0);
    expect(await isSettled(completing)).toBe(false);
    call.gate.resolve();
    await completing;
  });

  it('one-object batches sent without awaiting keep their order and sequence numbers', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, { batchSize: 1 });
    const sends = Array.from({ length: 5 }, (_, i) => producer.send('t', i));
    for (let i = 0; i < 5; i++) {
      const call = await nextCall(i);
      // The next batch is not handed to the publisher before this one is accepted.
      expect(calls).toHaveLength(i + 1);
      call.gate.resolve();
    }
    await Promise.all(sends);
    const batches = calls.map((c) => decodeBatch(c.message));
    expect(batches.map((b) => b.sequence)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a refused batch rejects its send, deletes its stored data and does not use up a sequence number', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const store = await MemoryStore.create();
    const producer = new StreamProducer(publisher, { defaultStore: store });
    const refused = producer.send('t', 'lost');
    (await nextCall(0)).gate.reject(new Error('broker down'));
    await expect(refused).rejects.toThrow('broker down');
    expect(store.size).toBe(0);
    const accepted = producer.send('t', 'kept');
    (await nextCall(1)).gate.resolve();
    await accepted;
    expect(calls.map((c) => decodeBatch(c.message).sequence)).toEqual([0, 0]);
    store.clear();
  });

  it('an error of a linger flush is reported by the next call', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const producer = new StreamProducer(publisher, { batchSize: 10, lingerMs: 1 });
    await producer.send('t', 1);
    (await nextCall(0)).gate.reject(new Error('linger failed'));
    await within(
      (async () => {
        for (;;) {
          const error = await producer.flush().then(
            () => undefined,
            (e: unknown) => e,
          );
          if (error !== undefined) {
            expect(error).toBeInstanceOf(SendRefusedError);
            expect(((error as SendRefusedError).cause as Error).message).toBe('linger failed');
            return expect((error as SendRefusedError).unsent.map((u) => u.object)).toEqual([1]);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
      5_000,
      'linger error',
    );
  });

  it('passes event batches to an EventPublisher with live objects, not serialised ones', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('live');
    const publisher = recordingEventPublisher(broker.eventPublisher());
    const producer = new StreamProducer<{ when: Date }>(publisher);
    const object = { when: new Date() };
    await producer.send(topic, object);
    const batch = publisher.batches[0] as EventBatch;
    const event = batch.events[0]!;
    expect(event.type === 'new-object' && event.body.kind === 'live' && event.body.value).toBe(
      object,
    );
    await producer.close();
  });

  it('rejects invalid options with InvalidArgumentError', () => {
    const { publisher } = gatedPublisher();
    expect(() => new StreamProducer(publisher, { batchSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => new StreamProducer(publisher, { batchSize: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => new StreamProducer(publisher, { lingerMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => new StreamProducer(publisher, { inlineBelow: Number.NaN })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new StreamProducer({} as Publisher)).toThrow(InvalidArgumentError);
  });
});
