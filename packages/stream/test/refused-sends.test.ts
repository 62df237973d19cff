import {
  CloseIncompleteError,
  type Publisher,
  SendRefusedError,
  type SequenceGapError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { deferred, drain, topicName, within } from './helpers.js';

/** Passes sends on to `inner`, except the calls whose 0-based index is in `refused`. */
function refusingPublisher(inner: Publisher, refused: ReadonlySet<number>): Publisher {
  let calls = 0;
  return {
    async send(topic, message) {
      if (refused.has(calls++)) throw new Error('ECONNREFUSED');
      await inner.send(topic, message);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

/** A publisher whose sends and close never settle: a frozen broker. */
function frozenPublisher(): Publisher & { sends: number } {
  const never = new Promise<void>(() => undefined);
  const publisher = {
    sends: 0,
    send() {
      publisher.sends++;
      return never;
    },
    close: () => never,
    [Symbol.asyncDispose]: () => never,
  };
  return publisher;
}

describe('a refused batch', () => {
  it('names every object of the batch, those whose send had resolved included', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('refused');
    const subscriber = await broker.subscriber(topic);
    const producer = new StreamProducer<number>(
      refusingPublisher(broker.publisher(), new Set([1])),
      {
        batchSize: 4,
      },
    );
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => producer.send(topic, i, { metadata: { i } })),
    );
    const rejected = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? [i] : []));
    expect(rejected).toEqual([7]);
    const error = (outcomes[7] as PromiseRejectedResult).reason as SendRefusedError<number>;
    expect(error).toBeInstanceOf(SendRefusedError);
    expect(error.code).toBe('SEND_REFUSED');
    expect((error.cause as Error).message).toBe('ECONNREFUSED');
    expect(error.unsent.map((u) => u.object)).toEqual([4, 5, 6, 7]);
    expect(error.unsent.map((u) => u.metadata)).toEqual([{ i: 4 }, { i: 5 }, { i: 6 }, { i: 7 }]);
    expect(error.unsent.every((u) => u.topic === topic && u.evict)).toBe(true);

    // Sending them again delivers everything, with no gap: the refused batch used no sequence number.
    for (const unsent of error.unsent) {
      await producer.send(unsent.topic, unsent.object, unsent);
    }
    await producer.close({ topics: [topic] });
    const consumer = new StreamConsumer<number>(subscriber);
    const received = await drain(consumer.iterObjects());
    expect([...received].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it('with batches pipelined, the consumer also reports the refused batch as lost', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('refused-pipelined');
    const subscriber = await broker.subscriber(topic);
    const producer = new StreamProducer<number>(
      refusingPublisher(broker.publisher(), new Set([1])),
      {
        batchSize: 2,
        maxBatchesInFlight: 4,
      },
    );
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => producer.send(topic, i)),
    );
    const error = (outcomes[3] as PromiseRejectedResult).reason as SendRefusedError<number>;
    expect(error).toBeInstanceOf(SendRefusedError);
    expect(error.unsent.map((u) => u.object)).toEqual([2, 3]);
    await producer.close({ topics: [topic] });
    const gaps: SequenceGapError[] = [];
    const consumer = new StreamConsumer<number>(subscriber, { onGap: (gap) => gaps.push(gap) });
    expect(await drain(consumer.iterObjects())).toEqual([0, 1, 4, 5]);
    expect(gaps.map((gap) => gap.missing)).toEqual([1]);
  });

  it('sent by the linger timer on two topics: the next call reports both, and its own object', async () => {
    const broker = new InProcessBroker();
    const producer = new StreamProducer<string>(
      refusingPublisher(broker.publisher(), new Set([0, 1])),
      { batchSize: 10, lingerMs: 1 },
    );
    await producer.send('a', 'a0');
    await producer.send('b', 'b0');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const error = await producer.send('c', 'c0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendRefusedError);
    const unsent = (error as SendRefusedError<string>).unsent;
    expect(unsent.map((u) => `${u.topic}:${u.object}`).sort()).toEqual(['a:a0', 'b:b0', 'c:c0']);
    // Reported once: the producer goes on.
    await producer.send('c', 'c1');
    await producer.close();
  });

  it('flushed with other topics: flush reports the unsent objects of every refused topic', async () => {
    const broker = new InProcessBroker();
    const producer = new StreamProducer<string>(
      refusingPublisher(broker.publisher(), new Set([0, 2])),
      { batchSize: 10 },
    );
    for (const topic of ['a', 'b', 'c']) await producer.send(topic, `${topic}0`);
    const error = await producer.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendRefusedError);
    const unsent = (error as SendRefusedError<string>).unsent.map((u) => u.object).sort();
    expect(unsent).toEqual(['a0', 'c0']);
    await producer.close();
  });
});

describe('close() against a broker that stops answering', () => {
  it('gives up after timeoutMs, listing the objects not confirmed', async () => {
    const publisher = frozenPublisher();
    const producer = new StreamProducer<number>(publisher, { batchSize: 2 });
    const sends = [0, 1, 2].map((i) => producer.send('t', i));
    const started = Date.now();
    const error = await within(
      producer.close({ timeoutMs: 200 }).catch((e: unknown) => e),
      5_000,
      'close',
    );
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(error).toBeInstanceOf(CloseIncompleteError);
    expect((error as CloseIncompleteError).reason).toBe('timeout');
    expect((error as CloseIncompleteError<number>).unsent.map((u) => u.object)).toEqual([0, 1, 2]);
    // The second batch waits behind the first, which the frozen broker never accepts.
    expect(publisher.sends).toBe(1);
    await expect(producer.send('t', 3)).rejects.toThrow('closed');
    void sends;
  });

  it('gives up when its signal aborts', async () => {
    const producer = new StreamProducer<number>(frozenPublisher());
    void producer.send('t', 0);
    const controller = new AbortController();
    const closing = producer.close({
      signal: controller.signal,
      timeoutMs: Number.POSITIVE_INFINITY,
    });
    controller.abort();
    const error = await within(
      closing.catch((e: unknown) => e),
      5_000,
      'close',
    );
    expect(error).toBeInstanceOf(CloseIncompleteError);
    expect((error as CloseIncompleteError).reason).toBe('aborted');
    expect((error as CloseIncompleteError<number>).unsent.map((u) => u.object)).toEqual([0]);
  });

  it('a consumer whose subscriber never finishes closing gives up after timeoutMs', async () => {
    const never = new Promise<never>(() => undefined);
    // As a shim does with its broker frozen: close() ends the pending read, then waits for ever.
    let endRead: ((result: IteratorResult<Uint8Array>) => void) | undefined;
    const subscriber = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>((resolve) => (endRead = resolve)),
      }),
      close: () => {
        endRead?.({ done: true, value: undefined });
        return never;
      },
      [Symbol.asyncDispose]: () => never,
    };
    const consumer = new StreamConsumer(subscriber);
    const pending = consumer.next();
    const error = await within(
      consumer.close({ timeoutMs: 200 }).catch((e: unknown) => e),
      5_000,
      'consumer close',
    );
    expect(error).toBeInstanceOf(CloseIncompleteError);
    expect(await within(pending, 1_000, 'pending next')).toEqual({ done: true, value: undefined });
  });

  it('finishes as before when the broker answers', async () => {
    const broker = new InProcessBroker();
    const done = deferred();
    const producer = new StreamProducer<number>(broker.publisher(), { batchSize: 2 });
    await producer.send('t', 1);
    await producer.close({ timeoutMs: 1_000 }).then(done.resolve, done.reject);
    await done.promise;
  });
});
