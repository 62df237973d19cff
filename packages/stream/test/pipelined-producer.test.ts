import { InvalidArgumentError, SendRefusedError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/memory-store.js';
import { StreamProducer } from '../src/stream-producer.js';
import { decodeBatch } from '../src/wire-codec.js';
import { gatedPublisher, isSettled } from './helpers.js';

describe('StreamProducer with maxBatchesInFlight', () => {
  it('hands up to the limit of one-object batches to the publisher before the first is accepted, in order', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, { batchSize: 1, maxBatchesInFlight: 3 });
    const sends = Array.from({ length: 5 }, (_, i) => producer.send('t', i));
    await nextCall(2);
    expect(await isSettled(sends[0]!)).toBe(false);
    // The limit holds: the fourth batch waits for an acceptance.
    expect(calls).toHaveLength(3);
    calls[0]!.gate.resolve();
    await sends[0];
    await nextCall(3);
    expect(await isSettled(sends[1]!)).toBe(false);
    for (let i = 1; i < 5; i++) (await nextCall(i)).gate.resolve();
    await Promise.all(sends);
    const batches = calls.map((c) => decodeBatch(c.message));
    expect(batches.map((b) => b.sequence)).toEqual([0, 1, 2, 3, 4]);
    expect(batches.map((b) => b.events.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('a refused batch rejects its send, deletes its stored data and leaves a gap in the sequence', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const store = await MemoryStore.create();
    const producer = new StreamProducer(publisher, { defaultStore: store, maxBatchesInFlight: 2 });
    const refused = producer.send('t', 'lost');
    const accepted = producer.send('t', 'kept');
    (await nextCall(0)).gate.reject(new Error('broker down'));
    (await nextCall(1)).gate.resolve();
    await expect(refused).rejects.toThrow('broker down');
    await accepted;
    expect(store.size).toBe(1);
    expect(calls.map((c) => decodeBatch(c.message).sequence)).toEqual([0, 1]);
    store.clear();
  });

  it('a refused batch rejects at once while an earlier one is pending; later sends wait for every earlier batch', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, { maxBatchesInFlight: 4 });
    const sends = [0, 1, 2].map((i) => producer.send('t', i));
    const first = await nextCall(0);
    const second = await nextCall(1);
    const third = await nextCall(2);
    second.gate.reject(new Error('refused'));
    await expect(sends[1]).rejects.toThrow('refused');
    third.gate.resolve();
    expect(await isSettled(sends[2]!)).toBe(false);
    const flushed = producer.flush();
    expect(await isSettled(flushed)).toBe(false);
    first.gate.resolve();
    await sends[0];
    await sends[2];
    await flushed;
  });

  it('a batch the serializer refuses rejects its send without using a sequence number', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<unknown>(publisher, { maxBatchesInFlight: 2 });
    const refused = await producer.send('t', () => undefined).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SendRefusedError);
    expect((refused as SendRefusedError).cause).toBeInstanceOf(InvalidArgumentError);
    const sent = producer.send('t', 1);
    (await nextCall(0)).gate.resolve();
    await sent;
    expect(calls.map((c) => decodeBatch(c.message).sequence)).toEqual([0]);
  });

  it('flush waits for every batch in flight', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, {
      maxBatchesInFlight: 4,
      batchSize: 2,
    });
    void producer.send('t', 1);
    void producer.send('t', 2);
    void producer.send('t', 3);
    const flushed = producer.flush();
    const first = await nextCall(0);
    const second = await nextCall(1);
    second.gate.resolve();
    expect(await isSettled(flushed)).toBe(false);
    first.gate.resolve();
    await flushed;
  });

  it('refuses a limit that is not a positive integer', () => {
    const { publisher } = gatedPublisher();
    expect(() => new StreamProducer(publisher, { maxBatchesInFlight: 0 })).toThrow(
      InvalidArgumentError,
    );
  });
});
