import { AbortedError, type EventBatch, type Publisher, type Store } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/memory-store.js';
import { StreamProducer } from '../src/stream-producer.js';
import { decodeBatch } from '../src/wire-codec.js';
import { deferred, isSettled, topicName } from './helpers.js';

/** A publisher that records each batch and holds its send until the test accepts it. */
function holdingPublisher(): Publisher & { batches: EventBatch[]; accept(): void } {
  const waiting: (() => void)[] = [];
  const publisher = {
    batches: [] as EventBatch[],
    send(_topic: string, message: Uint8Array): Promise<void> {
      publisher.batches.push(decodeBatch(message));
      const { promise, resolve } = deferred();
      waiting.push(resolve);
      return promise;
    },
    accept(): void {
      for (const resolve of waiting.splice(0)) resolve();
    },
    close: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
  return publisher;
}

const values = (batch: EventBatch) =>
  batch.events.flatMap((event) =>
    event.type === 'new-object' && event.body.kind === 'inline' ? [event.body.data.length] : [],
  );

describe('send with an AbortSignal', { timeout: 5_000 }, () => {
  it('an already aborted signal rejects with AbortedError and sends nothing', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher);
    const topic = topicName('abort-before');
    const error = await producer
      .send(topic, 1, { signal: AbortSignal.abort() })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AbortedError);
    expect(publisher.batches).toEqual([]);
    const next = producer.send(topic, 2);
    expect(publisher.batches.map((batch) => batch.sequence)).toEqual([0]);
    publisher.accept();
    await next;
  });

  it('an abort while the batch waits behind an earlier one rejects at once, and the object is never sent', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher);
    const topic = topicName('abort-queued');
    const first = producer.send(topic, 1);
    const controller = new AbortController();
    const second = producer.send(topic, 2, { signal: controller.signal });
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(AbortedError);
    expect(await isSettled(first)).toBe(false);
    publisher.accept();
    await first;
    await producer.flush();
    expect(publisher.batches).toHaveLength(1);
    // The withdrawn batch used no sequence number.
    const third = producer.send(topic, 3);
    await Promise.resolve();
    expect(publisher.batches.map((batch) => batch.sequence)).toEqual([0, 1]);
    publisher.accept();
    await third;
  });

  it('the other objects of the withdrawn object’s batch are still sent', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<Uint8Array>(publisher, { batchSize: 2 });
    const topic = topicName('abort-rest');
    const a = [producer.send(topic, new Uint8Array(1)), producer.send(topic, new Uint8Array(2))];
    await producer.send(topic, new Uint8Array(3));
    const controller = new AbortController();
    const aborted = producer.send(topic, new Uint8Array(4), { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    publisher.accept();
    await Promise.all(a);
    const flushed = producer.flush();
    await Promise.resolve();
    publisher.accept();
    await flushed;
    expect(publisher.batches.map(values)).toEqual([[1, 2], [3]]);
  });

  it('an abort during the store put rejects at once, deletes the data put and sends nothing', async () => {
    const publisher = holdingPublisher();
    const memory = await MemoryStore.create();
    const put = deferred();
    const store: Store = {
      kind: memory.kind,
      put: async (data) => {
        await put.promise;
        return memory.put(data);
      },
      putBatch: (data) => memory.putBatch(data),
      get: (key) => memory.get(key),
      exists: (key) => memory.exists(key),
      evict: (key) => memory.evict(key),
      config: () => memory.config(),
      close: () => memory.close(),
      [Symbol.asyncDispose]: () => memory.close(),
    };
    const producer = new StreamProducer<Uint8Array>(publisher, { defaultStore: store });
    const controller = new AbortController();
    const send = producer.send(topicName('abort-put'), new Uint8Array(8), {
      signal: controller.signal,
    });
    controller.abort();
    await expect(send).rejects.toBeInstanceOf(AbortedError);
    put.resolve();
    await producer.flush();
    expect(publisher.batches).toEqual([]);
    expect(memory.size).toBe(0);
    memory.clear();
  });

  it('an abort after the batch was handed to the publisher is ignored: send settles with its answer', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher);
    const controller = new AbortController();
    const send = producer.send(topicName('abort-late'), 1, { signal: controller.signal });
    expect(publisher.batches).toHaveLength(1);
    controller.abort();
    expect(await isSettled(send)).toBe(false);
    publisher.accept();
    await expect(send).resolves.toBeUndefined();
  });

  it('with pipelining, an abort while the send waits for a free slot withdraws it without a gap', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher, { maxBatchesInFlight: 2 });
    const topic = topicName('abort-slot');
    const inFlight = [producer.send(topic, 1), producer.send(topic, 2)];
    const controller = new AbortController();
    const waiting = producer.send(topic, 3, { signal: controller.signal });
    // Let the batch be assembled: it now waits for a slot, past the first look for an abort.
    expect(await isSettled(waiting)).toBe(false);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    publisher.accept();
    await Promise.all(inFlight);
    await producer.flush();
    const next = producer.send(topic, 4);
    await Promise.resolve();
    expect(publisher.batches.map((batch) => batch.sequence)).toEqual([0, 1, 2]);
    publisher.accept();
    await next;
  });
});

describe('flush with an AbortSignal', { timeout: 5_000 }, () => {
  it('an already aborted signal rejects with AbortedError and cuts nothing', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher, { batchSize: 10 });
    const topic = topicName('flush-before');
    await producer.send(topic, 1);
    await expect(producer.flush({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    await expect(
      producer.flushTopic(topic, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(publisher.batches).toEqual([]);
  });

  it('an abort while flush waits rejects at once; the batch it cut is still sent', async () => {
    const publisher = holdingPublisher();
    const producer = new StreamProducer<number>(publisher, { batchSize: 10 });
    const topic = topicName('flush-wait');
    await producer.send(topic, 1);
    const controller = new AbortController();
    const flushed = producer.flushTopic(topic, { signal: controller.signal });
    expect(publisher.batches).toHaveLength(1);
    controller.abort();
    await expect(flushed).rejects.toBeInstanceOf(AbortedError);
    publisher.accept();
    await producer.flush();
    expect(publisher.batches).toHaveLength(1);
  });
});
