import {
  type AcknowledgingSubscriber,
  ClosedError,
  DecodeError,
  type EventBatch,
  InvalidArgumentError,
  MessageQueue,
  SequenceGapError,
  type Serializer,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { isProxyReference } from '../src/proxy-reference.js';
import { StoreCache } from '../src/store-cache.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { InlineItem } from '../src/stream-item.js';
import { StreamProducer } from '../src/stream-producer.js';
import { encodeBatch } from '../src/wire-codec.js';
import { countingStore, drain, isSettled, topicName, within } from './helpers.js';

async function setup(prefix: string) {
  const broker = new InProcessBroker();
  const topic = topicName(prefix);
  const subscriber = await broker.subscriber(topic);
  return { broker, topic, subscriber, publisher: broker.publisher() };
}

/** An envelope with one inline object per value, sequence `sequence` from producer `producerId`. */
function envelope(
  topic: string,
  producerId: string,
  sequence: number,
  values: unknown[],
  end = false,
) {
  const events: EventBatch['events'][number][] = values.map((value) => ({
    type: 'new-object',
    metadata: {},
    evict: false,
    body: { kind: 'inline', data: defaultSerializer.serialize(value) },
  }));
  if (end) events.push({ type: 'end-of-stream' });
  return encodeBatch({ topic, producerId, sequence, events });
}

/** A factory that records what it was asked to open and the stores it returned. */
function spyFactory(kind: string): StoreFactory & { opened: StoreConfig[]; stores: Store[] } {
  const opened: StoreConfig[] = [];
  const stores: Store[] = [];
  return {
    kind,
    opened,
    stores,
    async open(config) {
      opened.push(config);
      const store = await MemoryStore.create({ name: config.name });
      stores.push(store);
      return store;
    },
  };
}

describe('StreamConsumer: end of stream', () => {
  it('yields everything sent before closeTopics, then ends', async () => {
    const { topic, subscriber, publisher } = await setup('eos-order');
    const consumer = new StreamConsumer<number>(subscriber);
    const producer = new StreamProducer<number>(publisher, { batchSize: 4 });
    for (let i = 0; i < 10; i++) await producer.send(topic, i);
    await producer.closeTopics(topic);
    expect(await drain(consumer.iterObjects())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await consumer.nextObject()).toEqual({ done: true, value: undefined });
    await producer.close();
  });

  it('with several producers on a topic, ends only after the end of stream of each announced producer', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('two-producers');
    const consumer = new StreamConsumer<string>(await broker.eventSubscriber(topic));
    const first = new StreamProducer<string>(broker.eventPublisher());
    const second = new StreamProducer<string>(broker.eventPublisher());
    await first.send(topic, 'first-1');
    await second.send(topic, 'second-1');
    await first.closeTopics(topic);
    expect((await consumer.nextObject()).value).toBe('first-1');
    expect((await consumer.nextObject()).value).toBe('second-1');
    // The first producer has ended, the second has not: the consumer must wait, not end.
    const pending = consumer.nextObject();
    expect(await isSettled(pending)).toBe(false);
    await second.send(topic, 'second-2');
    expect(await pending).toEqual({ done: false, value: 'second-2' });
    await second.closeTopics(topic);
    expect(await within(consumer.nextObject(), 5_000, 'end')).toEqual({
      done: true,
      value: undefined,
    });
  });

  it('with several topics, ends only when every topic it reads has ended', async () => {
    const broker = new InProcessBroker();
    const a = topicName('multi-a');
    const b = topicName('multi-b');
    const consumer = new StreamConsumer<string>(await broker.subscriber([a, b]), {
      topics: [a, b],
    });
    const producer = new StreamProducer<string>(broker.publisher());
    await producer.send(a, 'a1');
    await producer.closeTopics(a);
    expect((await consumer.nextObject()).value).toBe('a1');
    const pending = consumer.nextObject();
    expect(await isSettled(pending)).toBe(false);
    await producer.send(b, 'b1');
    expect((await pending).value).toBe('b1');
    await producer.close({ topics: [b] });
    expect((await consumer.nextObject()).done).toBe(true);
  });

  it('minProducers keeps a topic open until that many producers announced themselves', async () => {
    const { topic, subscriber, publisher } = await setup('min-producers');
    const consumer = new StreamConsumer<string>(subscriber, { minProducers: 2 });
    const first = new StreamProducer<string>(publisher);
    await first.send(topic, 'one');
    await first.closeTopics(topic);
    expect((await consumer.nextObject()).value).toBe('one');
    const pending = consumer.nextObject();
    expect(await isSettled(pending)).toBe(false);
    const second = new StreamProducer<string>(publisher);
    await second.close({ topics: [topic] });
    expect((await pending).done).toBe(true);
    expect(() => new StreamConsumer(subscriber, { minProducers: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('StreamConsumer: close after a loop ended by break', () => {
  it('close({ stores: true }) after a `break` still closes the stores the consumer opened', async () => {
    const { topic, subscriber, publisher } = await setup('close-after-break');
    const factory = spyFactory('memory');
    const consumer = new StreamConsumer<number>(subscriber, { stores: [factory] });
    const producer = new StreamProducer<number>(publisher, {
      defaultStore: await MemoryStore.create({ name: 'close-after-break' }),
    });
    await producer.send(topic, 1);
    await producer.send(topic, 2);
    for await (const value of consumer.iterObjects()) {
      expect(value).toBe(1);
      break; // ends the loop: return() closes the consumer, without its stores
    }
    expect(factory.stores).toHaveLength(1);
    await expect(factory.stores[0]!.put(Uint8Array.of(1))).resolves.toBeTypeOf('string');
    await consumer.close({ stores: true });
    await expect(factory.stores[0]!.put(Uint8Array.of(1))).rejects.toBeInstanceOf(ClosedError);
    await producer.close({ stores: true });
  });
});

describe('StreamConsumer: filters and eviction', () => {
  it('a consumer-side filter drops events and evicts the stored data of one-shot ones', async () => {
    const { topic, subscriber, publisher } = await setup('consumer-filter');
    const store = await MemoryStore.create();
    const consumer = new StreamConsumer<number>(subscriber, {
      stores: [new MemoryStoreFactory()],
      filter: (metadata) => metadata.odd === true,
    });
    const producer = new StreamProducer<number>(publisher, { defaultStore: store, batchSize: 3 });
    for (let i = 0; i < 6; i++)
      await producer.send(topic, i, { metadata: { odd: i % 2 === 1 }, evict: i !== 5 });
    await producer.close({ topics: [topic] });
    const references = await drain(consumer);
    expect(references.every((item) => item.isReference)).toBe(true);
    // 1 and 3 were one-shot and dropped: gone. 5 was dropped but not one-shot: kept.
    expect(store.size).toBe(4);
    expect(await Promise.all(references.map((r) => r.resolve()))).toEqual([0, 2, 4]);
    expect(store.size).toBe(1);
    store.clear();
  });

  it('producer and consumer filters combine, and each side evicts what it must', async () => {
    const { topic, subscriber, publisher } = await setup('both-filters');
    const memory = await MemoryStore.create();
    const store = countingStore(memory);
    const consumer = new StreamConsumer<number>(subscriber, {
      stores: [new MemoryStoreFactory()],
      filter: (metadata) => metadata.quality === 'blurry',
    });
    const producer = new StreamProducer<number>(publisher, {
      defaultStore: store,
      filter: (metadata) => metadata.camera === 'broken',
    });
    const plan = [
      { camera: 'left', quality: 'sharp' },
      { camera: 'broken', quality: 'sharp' },
      { camera: 'right', quality: 'blurry' },
      { camera: 'left', quality: 'sharp' },
    ];
    for (const [i, metadata] of plan.entries()) await producer.send(topic, i, { metadata });
    await producer.close({ topics: [topic] });
    // The producer never stored the broken camera's frame.
    expect(store.calls.put).toBe(3);
    expect(memory.size).toBe(3);
    const objects = await drain(consumer.iterObjectsWithMetadata());
    expect(objects).toEqual([
      { value: 0, metadata: plan[0] },
      { value: 3, metadata: plan[3] },
    ]);
    // The blurry frame was evicted by the consumer's filter, the others by their one-shot resolve.
    expect(memory.size).toBe(0);
  });
});

describe('StreamConsumer: reading', () => {
  it('next, nextWithMetadata, nextObject and nextObjectWithMetadata read the same stream in turn', async () => {
    const { topic, subscriber, publisher } = await setup('next-variants');
    const consumer = new StreamConsumer<string>(subscriber, { stores: [new MemoryStoreFactory()] });
    const producer = new StreamProducer<string>(publisher, {
      defaultStore: await MemoryStore.create(),
    });
    for (const word of ['a', 'b', 'c', 'd'])
      await producer.send(topic, word, { metadata: { word } });
    await producer.close({ topics: [topic] });
    const first = await consumer.next();
    expect(isProxyReference(first.value)).toBe(true);
    expect(first.value?.isReference).toBe(true);
    expect(await first.value?.resolve()).toBe('a');
    const second = await consumer.nextWithMetadata();
    expect(second.value?.metadata).toEqual({ word: 'b' });
    expect(await consumer.nextObject()).toEqual({ done: false, value: 'c' });
    expect(await consumer.nextObjectWithMetadata()).toEqual({
      done: false,
      value: { value: 'd', metadata: { word: 'd' } },
    });
    expect((await consumer.nextObject()).done).toBe(true);
  });

  it('iterObjects resolves references; inline objects come as themselves', async () => {
    const { topic, subscriber, publisher } = await setup('iter-objects');
    const consumer = new StreamConsumer<Map<string, number>>(subscriber, {
      stores: [new MemoryStoreFactory()],
    });
    const producer = new StreamProducer<Map<string, number>>(publisher, {
      defaultStore: await MemoryStore.create(),
      inlineBelow: 30,
    });
    await producer.send(topic, new Map([['small', 1]]));
    await producer.send(topic, new Map([['large'.repeat(10), 2]]));
    await producer.close({ topics: [topic] });
    expect(await drain(consumer.iterObjects())).toEqual([
      new Map([['small', 1]]),
      new Map([['large'.repeat(10), 2]]),
    ]);
  });

  it('concurrent nextObject() calls each receive their own item, in order', async () => {
    const { topic, subscriber, publisher } = await setup('concurrent-next');
    const consumer = new StreamConsumer<number>(subscriber);
    const results = Promise.all([
      consumer.nextObject(),
      consumer.nextObject(),
      consumer.nextObject(),
      consumer.nextObject(),
    ]);
    const producer = new StreamProducer<number>(publisher, { batchSize: 2 });
    for (let i = 0; i < 3; i++) await producer.send(topic, i);
    await producer.close({ topics: [topic] });
    expect((await results).map((r) => r.value)).toEqual([0, 1, 2, undefined]);
  });

  it('uses the serializer it is given, which must match the producer', async () => {
    const { topic, subscriber, publisher } = await setup('custom-serializer');
    const json: Serializer<{ n: number }> = {
      serialize: (value) => Buffer.from(JSON.stringify(value)),
      deserialize: (data) => JSON.parse(Buffer.from(data).toString()),
    };
    const consumer = new StreamConsumer(subscriber, { serializer: json });
    const producer = new StreamProducer(publisher, { serializer: json });
    await producer.send(topic, { n: 1 });
    await producer.close({ topics: [topic] });
    expect(await drain(consumer.iterObjects())).toEqual([{ n: 1 }]);
  });
});

describe('StreamConsumer: stores from the wire', () => {
  it('a store kind it was not given fails with StoreNotAllowedError, opens nothing, and the stream goes on', async () => {
    const { topic, subscriber, publisher } = await setup('store-not-allowed');
    const memory = spyFactory('memory');
    const consumer = new StreamConsumer<string>(subscriber, { stores: [memory] });
    await publisher.send(
      topic,
      encodeBatch({
        topic,
        producerId: 'rogue',
        sequence: 0,
        store: { kind: 'file', name: 'etc', directory: '/etc' },
        events: [
          {
            type: 'new-object',
            metadata: {},
            evict: true,
            body: { kind: 'stored', key: 'passwd' },
          },
        ],
      }),
    );
    await publisher.send(topic, envelope(topic, 'rogue', 1, ['after'], true));
    const error = await consumer.nextObject().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreNotAllowedError);
    expect((error as StoreNotAllowedError).code).toBe('STORE_NOT_ALLOWED');
    expect(memory.opened).toEqual([]);
    expect(await drain(consumer.iterObjects())).toEqual(['after']);
  });

  it('opens each store once per (kind, name) and closes it on close({ stores: true })', async () => {
    const { topic, subscriber, publisher } = await setup('store-once');
    const factory = spyFactory('memory');
    const consumer = new StreamConsumer<number>(subscriber, { stores: [factory] });
    const storeA = await MemoryStore.create();
    const storeB = await MemoryStore.create();
    const a = new StreamProducer<number>(publisher, { defaultStore: storeA });
    for (let i = 0; i < 3; i++) await a.send(topic, i);
    const b = new StreamProducer<number>(publisher, { defaultStore: storeB });
    await b.send(topic, 3);
    const refs = (
      await within(
        Promise.all([consumer.next(), consumer.next(), consumer.next(), consumer.next()]),
        5_000,
        'four references',
      )
    ).map((r) => r.value?.reference);
    expect(refs.every((r) => r !== undefined)).toBe(true);
    expect(await Promise.all(refs.map((r) => r?.resolve()))).toEqual([0, 1, 2, 3]);
    expect(factory.opened.map((c) => c.name)).toEqual([storeA.name, storeB.name]);
    await consumer.close({ stores: true });
    expect(factory.stores).toHaveLength(2);
    for (const store of factory.stores)
      await expect(store.put(Uint8Array.of(1))).rejects.toBeInstanceOf(ClosedError);
    storeA.clear();
    storeB.clear();
  });

  it('shares a StoreCache given by the caller', async () => {
    const { topic, subscriber, publisher } = await setup('shared-cache');
    const stores = new StoreCache([new MemoryStoreFactory()]);
    const store = await MemoryStore.create();
    stores.add(store);
    const consumer = new StreamConsumer<number>(subscriber, { stores });
    const producer = new StreamProducer<number>(publisher, { defaultStore: store });
    await producer.send(topic, 7);
    await producer.close({ topics: [topic] });
    expect(await drain(consumer.iterObjects())).toEqual([7]);
    await consumer.close({ stores: true });
    await expect(store.put(Uint8Array.of(1))).rejects.toThrow('closed');
  });
});

describe('StreamConsumer: sequence gaps and duplicates', () => {
  it("reports a gap with SequenceGapError under onGap 'error', then delivers the batch that revealed it", async () => {
    const { topic, subscriber, publisher } = await setup('gap-error');
    const consumer = new StreamConsumer<string>(subscriber);
    await publisher.send(topic, envelope(topic, 'p', 0, ['s0']));
    await publisher.send(topic, envelope(topic, 'p', 1, ['s1']));
    await publisher.send(topic, envelope(topic, 'p', 4, ['s4'], true));
    expect((await consumer.nextObject()).value).toBe('s0');
    expect((await consumer.nextObject()).value).toBe('s1');
    const error = await consumer.nextObject().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({
      code: 'SEQUENCE_GAP',
      topic,
      producerId: 'p',
      expected: 2,
      received: 4,
      missing: 2,
    });
    expect(await drain(consumer.iterObjects())).toEqual(['s4']);
  });

  it('skips a duplicate batch and reports it', async () => {
    const { topic, subscriber, publisher } = await setup('duplicate');
    const consumer = new StreamConsumer<string>(subscriber);
    await publisher.send(topic, envelope(topic, 'p', 0, ['s0']));
    await publisher.send(topic, envelope(topic, 'p', 1, ['s1']));
    await publisher.send(topic, envelope(topic, 'p', 1, ['s1-again']));
    await publisher.send(topic, envelope(topic, 'p', 2, ['s2'], true));
    expect((await consumer.nextObject()).value).toBe('s0');
    expect((await consumer.nextObject()).value).toBe('s1');
    const error = (await consumer.nextObject().catch((e: unknown) => e)) as SequenceGapError;
    expect(error).toBeInstanceOf(SequenceGapError);
    expect([error.expected, error.received, error.missing]).toEqual([2, 1, -1]);
    expect(await drain(consumer.iterObjects())).toEqual(['s2']);
  });

  it('a callback sees gaps and duplicates while iteration goes on; ignore says nothing', async () => {
    for (const mode of ['callback', 'ignore'] as const) {
      const { topic, subscriber, publisher } = await setup(`gap-${mode}`);
      const seen: SequenceGapError[] = [];
      const consumer = new StreamConsumer<string>(subscriber, {
        onGap: mode === 'ignore' ? 'ignore' : (error) => seen.push(error),
      });
      await publisher.send(topic, envelope(topic, 'p', 5, ['first seen sets the baseline']));
      await publisher.send(topic, envelope(topic, 'p', 7, ['after a gap']));
      await publisher.send(topic, envelope(topic, 'p', 7, ['duplicate']));
      await publisher.send(topic, envelope(topic, 'q', 0, ['other producer'], true));
      await publisher.send(topic, envelope(topic, 'p', 8, ['last'], true));
      expect(await drain(consumer.iterObjects())).toEqual([
        'first seen sets the baseline',
        'after a gap',
        'other producer',
        'last',
      ]);
      expect(seen.map((e) => [e.expected, e.received])).toEqual(
        mode === 'ignore'
          ? []
          : [
              [6, 7],
              [8, 7],
            ],
      );
    }
  });

  it('tracks sequences per producer and per topic', async () => {
    const broker = new InProcessBroker();
    const a = topicName('seq-a');
    const b = topicName('seq-b');
    const consumer = new StreamConsumer<string>(await broker.subscriber([a, b]), {
      topics: [a, b],
    });
    const publisher = broker.publisher();
    await publisher.send(a, envelope(a, 'p', 0, ['a0']));
    await publisher.send(b, envelope(b, 'p', 0, ['b0']));
    await publisher.send(a, envelope(a, 'q', 0, ['a-q0'], true));
    await publisher.send(a, envelope(a, 'p', 1, ['a1'], true));
    await publisher.send(b, envelope(b, 'p', 1, ['b1'], true));
    expect(await drain(consumer.iterObjects())).toEqual(['a0', 'b0', 'a-q0', 'a1', 'b1']);
  });
});

describe('StreamConsumer: malformed messages', () => {
  it('a malformed message rejects next() with DecodeError and the stream goes on', async () => {
    const { topic, subscriber, publisher } = await setup('malformed');
    const consumer = new StreamConsumer<string>(subscriber);
    await publisher.send(topic, envelope(topic, 'p', 0, ['before']));
    await publisher.send(topic, new TextEncoder().encode('{"not":"an envelope"}'));
    await publisher.send(topic, envelope(topic, 'p', 1, ['after'], true).subarray(0, 20));
    await publisher.send(topic, envelope(topic, 'p', 1, ['after'], true));
    const received: string[] = [];
    const errors: unknown[] = [];
    for (;;) {
      try {
        for await (const item of consumer) received.push(await item.resolve());
        break;
      } catch (error) {
        errors.push(error);
      }
    }
    expect(received).toEqual(['before', 'after']);
    expect(errors).toHaveLength(2);
    for (const error of errors) {
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).code).toBe('DECODE_FAILED');
    }
  });

  it("onDecodeError 'ignore' drops malformed messages silently; a callback sees them", async () => {
    for (const mode of ['ignore', 'callback'] as const) {
      const { topic, subscriber, publisher } = await setup(`malformed-${mode}`);
      const seen: DecodeError[] = [];
      const consumer = new StreamConsumer<string>(subscriber, {
        onDecodeError: mode === 'ignore' ? 'ignore' : (error) => seen.push(error),
      });
      await publisher.send(topic, Uint8Array.of(0x50, 0x58, 0x09, 0));
      await publisher.send(topic, envelope(topic, 'p', 0, ['ok'], true));
      expect(await drain(consumer.iterObjects())).toEqual(['ok']);
      expect(seen).toHaveLength(mode === 'ignore' ? 0 : 1);
    }
  });
});

describe('StreamConsumer: closing', () => {
  it('close() ends a pending next() and closes the subscriber', async () => {
    const { subscriber } = await setup('close-pending');
    const consumer = new StreamConsumer(subscriber);
    const pending = consumer.nextObject();
    await consumer.close();
    expect(await within(pending, 5_000, 'pending next')).toEqual({ done: true, value: undefined });
    expect((subscriber as MessageQueue<Uint8Array>).isClosed).toBe(true);
    expect((await consumer.nextObject()).done).toBe(true);
  });

  it('Symbol.asyncDispose closes the consumer and its subscriber', async () => {
    const { subscriber } = await setup('dispose-consumer');
    const consumer = new StreamConsumer(subscriber);
    await consumer[Symbol.asyncDispose]();
    expect((subscriber as MessageQueue<Uint8Array>).isClosed).toBe(true);
    expect((await consumer.nextObject()).done).toBe(true);
  });

  it('close({ subscriber: false }) leaves the subscriber open for another reader', async () => {
    const { topic, subscriber, publisher } = await setup('close-keep-subscriber');
    const first = new StreamConsumer<string>(subscriber);
    await publisher.send(topic, envelope(topic, 'p', 0, ['first']));
    expect((await first.nextObject()).value).toBe('first');
    await first.close({ subscriber: false });
    expect((subscriber as MessageQueue<Uint8Array>).isClosed).toBe(false);
    const second = new StreamConsumer<string>(subscriber);
    await publisher.send(topic, envelope(topic, 'p', 1, ['second'], true));
    expect(await drain(second.iterObjects())).toEqual(['second']);
  });

  it('aborting the signal ends a pending next()', async () => {
    const { subscriber } = await setup('abort');
    const controller = new AbortController();
    const consumer = new StreamConsumer(subscriber, { signal: controller.signal });
    const pending = consumer.nextObject();
    controller.abort();
    expect(await within(pending, 5_000, 'aborted next')).toEqual({ done: true, value: undefined });
    expect((subscriber as MessageQueue<Uint8Array>).isClosed).toBe(true);
  });

  it('breaking out of for await closes the consumer and its subscriber', async () => {
    const { topic, subscriber, publisher } = await setup('break');
    const consumer = new StreamConsumer<number>(subscriber);
    const producer = new StreamProducer<number>(publisher);
    await producer.send(topic, 1);
    await producer.send(topic, 2);
    for await (const item of consumer) {
      expect(item).toBeInstanceOf(InlineItem);
      expect(item.isReference).toBe(false);
      expect(item.reference).toBeUndefined();
      expect(await item.resolve()).toBe(1);
      break;
    }
    expect((subscriber as MessageQueue<Uint8Array>).isClosed).toBe(true);
    expect((await consumer.nextObject()).done).toBe(true);
  });

  it('acknowledges on close only when the last batch was read to its end', async () => {
    const make = () => {
      const queue = new MessageQueue<Uint8Array>();
      const subscriber = Object.assign(queue, {
        acks: 0,
        async ack() {
          subscriber.acks++;
        },
      });
      return subscriber satisfies AcknowledgingSubscriber;
    };
    const whole = make();
    whole.push(envelope('t', 'p', 0, ['a', 'b']));
    const wholeConsumer = new StreamConsumer(whole);
    await wholeConsumer.next();
    await wholeConsumer.next();
    await wholeConsumer.close();
    expect(whole.acks).toBe(1);

    const partial = make();
    partial.push(envelope('t', 'p', 0, ['a', 'b']));
    const partialConsumer = new StreamConsumer(partial);
    await partialConsumer.next();
    await partialConsumer.close();
    expect(partial.acks).toBe(0);
  });

  it('rejects what is neither a Subscriber nor an EventSubscriber', () => {
    expect(() => new StreamConsumer({} as never)).toThrow(InvalidArgumentError);
    const { subscriber } = { subscriber: new MessageQueue<Uint8Array>() };
    expect(() => new StreamConsumer(subscriber, { topics: [] })).toThrow(InvalidArgumentError);
  });
});
