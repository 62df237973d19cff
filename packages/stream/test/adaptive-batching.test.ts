import { AbortedError, SendRefusedError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore } from '../src/memory-store.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { decodeBatch } from '../src/wire-codec.js';
import { gatedPublisher, isSettled, recordingPublisher, topicName, within } from './helpers.js';

/** The objects of each batch the gated publisher was given, decoded. */
function objectCounts(calls: { message: Uint8Array }[]): number[] {
  return calls.map((call) => decodeBatch(call.message).events.length);
}

describe('StreamProducer without batchSize: adaptive batches', () => {
  it('a send to an idle publisher goes out at once, alone, and resolves when it was accepted', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher);
    const sent = producer.send('t', 1);
    // Handed over synchronously: no timer, no microtask hop.
    expect(calls).toHaveLength(1);
    expect(await isSettled(sent)).toBe(false);
    (await nextCall(0)).gate.resolve();
    await sent;
    expect(objectCounts(calls)).toEqual([1]);
  });

  it('sends made while a batch is in flight wait together and go out as one batch once it was accepted', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher);
    const first = producer.send('t', 0);
    const waiting = [1, 2, 3, 4].map((i) => producer.send('t', i));
    expect(calls).toHaveLength(1);
    (await nextCall(0)).gate.resolve();
    await first;
    const second = await nextCall(1);
    // Resolved only on acceptance, not when buffered.
    expect(await isSettled(waiting[0]!)).toBe(false);
    second.gate.resolve();
    await Promise.all(waiting);
    expect(objectCounts(calls)).toEqual([1, 4]);
    const batches = calls.map((call) => decodeBatch(call.message));
    expect(batches.map((batch) => batch.sequence)).toEqual([0, 1]);
    const values = batches.flatMap((batch) =>
      batch.events.map((event) => (event.type === 'new-object' ? event.metadata : undefined)),
    );
    expect(values).toHaveLength(5);
  });

  it('a waiting batch is cut at maxBatchObjects; the next one waits for room again', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, { maxBatchObjects: 3 });
    const sends = Array.from({ length: 11 }, (_, i) => producer.send('t', i));
    for (let i = 0; ; i++) {
      const call = await nextCall(i);
      call.gate.resolve();
      if (objectCounts(calls).reduce((a, b) => a + b, 0) === 11) break;
    }
    await Promise.all(sends);
    expect(objectCounts(calls)).toEqual([1, 3, 3, 3, 1]);
    expect(calls.map((call) => decodeBatch(call.message).sequence)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a waiting batch is cut before an object would take it past maxBatchBytes', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    // 100-byte arrays count 100 + 64 bytes each: two fit in 400, a third does not.
    const producer = new StreamProducer<Uint8Array>(publisher, { maxBatchBytes: 400 });
    const sends = Array.from({ length: 7 }, () => producer.send('t', new Uint8Array(100)));
    for (let i = 0; ; i++) {
      (await nextCall(i)).gate.resolve();
      if (objectCounts(calls).reduce((a, b) => a + b, 0) === 7) break;
    }
    await Promise.all(sends);
    expect(objectCounts(calls)).toEqual([1, 2, 2, 2]);
  });

  it('objects bound for the store count for their keys, not their bytes', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const store = await MemoryStore.create();
    const producer = new StreamProducer<Uint8Array>(publisher, {
      defaultStore: store,
      maxBatchBytes: 4096,
    });
    const sends = Array.from({ length: 9 }, () => producer.send('t', new Uint8Array(64 * 1024)));
    for (let i = 0; ; i++) {
      (await nextCall(i)).gate.resolve();
      if (objectCounts(calls).reduce((a, b) => a + b, 0) === 9) break;
    }
    await Promise.all(sends);
    expect(objectCounts(calls)).toEqual([1, 8]);
    store.clear();
  });

  it('a refused adaptive batch rejects each of its sends with SendRefusedError naming all its objects', async () => {
    const { publisher, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher);
    const first = producer.send('t', 0);
    const waiting = [1, 2, 3].map((i) => producer.send('t', i, { metadata: { i } }));
    (await nextCall(0)).gate.resolve();
    await first;
    (await nextCall(1)).gate.reject(new Error('broker down'));
    for (const send of waiting) {
      const error = await send.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SendRefusedError);
      expect((error as SendRefusedError<number>).unsent.map((u) => u.object)).toEqual([1, 2, 3]);
    }
    // The refused batch used no sequence number: the next one takes it.
    const next = producer.send('t', 4);
    (await nextCall(2)).gate.resolve();
    await next;
  });

  it('with maxBatchesInFlight, sends go out alone while a slot is free and wait together once all are taken', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher, { maxBatchesInFlight: 2 });
    const sends = Array.from({ length: 6 }, (_, i) => producer.send('t', i));
    expect(objectCounts(calls)).toEqual([1, 1]);
    (await nextCall(0)).gate.resolve();
    (await nextCall(2)).gate.resolve();
    (await nextCall(1)).gate.resolve();
    await Promise.all(sends);
    expect(objectCounts(calls)).toEqual([1, 1, 4]);
    expect(calls.map((call) => decodeBatch(call.message).sequence)).toEqual([0, 1, 2]);
  });

  it('a send with a signal ends the waiting batch, so that an abort still takes it out', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher);
    const first = producer.send('t', 0);
    const kept = producer.send('t', 1);
    const controller = new AbortController();
    const aborted = producer.send('t', 2, { signal: controller.signal });
    const later = producer.send('t', 3);
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    (await nextCall(0)).gate.resolve();
    await first;
    (await nextCall(1)).gate.resolve();
    await kept;
    (await nextCall(2)).gate.resolve();
    await later;
    // [0], then [1] (2 withdrawn before its batch was handed over), then [3].
    expect(objectCounts(calls)).toEqual([1, 1, 1]);
  });

  it('closeTopics sends the waiting objects with the end of stream after them', async () => {
    const { publisher, calls, nextCall } = gatedPublisher();
    const producer = new StreamProducer<number>(publisher);
    const first = producer.send('t', 0);
    const waiting = [1, 2].map((i) => producer.send('t', i));
    const closed = producer.closeTopics('t');
    (await nextCall(0)).gate.resolve();
    (await nextCall(1)).gate.resolve();
    await Promise.all([first, ...waiting, closed]);
    const last = decodeBatch(calls[1]!.message);
    expect(last.events.map((event) => event.type)).toEqual([
      'new-object',
      'new-object',
      'end-of-stream',
    ]);
    expect(calls).toHaveLength(2);
  });

  it('a burst of 20 000 unawaited sends never holds more than maxBatchObjects in one batch', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('adaptive-burst');
    const subscriber = await broker.subscriber(topic);
    const publisher = recordingPublisher(broker.publisher());
    const consumer = new StreamConsumer<number>(subscriber, { topics: [topic] });
    const producer = new StreamProducer<number>(publisher, { maxBatchObjects: 256 });
    const count = 20_000;
    const sends = Array.from({ length: count }, (_, i) => producer.send(topic, i));
    const received: number[] = [];
    const reading = (async () => {
      for (;;) {
        const result = await consumer.nextObject();
        if (result.done === true) return;
        received.push(result.value);
      }
    })();
    await Promise.all(sends);
    await producer.close({ topics: [topic] });
    await within(reading, 20_000, 'reading the burst');
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
    const sizes = publisher.batches.map((batch) => batch.events.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(257); // 256 objects, + the end of stream
    expect(publisher.batches.length).toBeLessThan(count / 50);
    await consumer.close();
  });
});
