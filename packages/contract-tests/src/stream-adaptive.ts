import type { Publisher, SequenceGapError, Subscriber } from '@proxystream/protocols';
import { expect } from 'vitest';
import { within } from './helpers.js';
import type { StreamModule } from './stream-module.js';

/** Options of {@link checkAdaptiveBatches}. */
export interface AdaptiveBatchesOptions {
  stream: StreamModule;
  topic: string;
  /** A live subscription to `topic` (fan-out shims drop what is published before). */
  subscriber: Subscriber;
  publisher: Publisher;
  /** Objects sent. Default 2 000. */
  count?: number;
  /** Longest wait for the stream to be read, in ms. */
  inactivityMs: number;
  /** Registers a clean-up step run after the case. */
  later(step: () => Promise<unknown>): void;
}

/**
 * A publisher that forwards every message but the `dropped`-th (1-based), which it acknowledges
 * without sending: a batch lost between the producer and the broker.
 */
function losing(inner: Publisher, dropped: number): Publisher & { messages: number } {
  const wrapper = {
    messages: 0,
    send(topic: string, message: Uint8Array): Promise<void> {
      wrapper.messages++;
      return wrapper.messages === dropped ? Promise.resolve() : inner.send(topic, message);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return wrapper;
}

/**
 * The default producer's adaptive batches through a shim: `count` sends made without awaiting
 * go out in far fewer broker messages than objects; with the second message lost on its way,
 * the consumer gets every other object once, in order, to the end of the stream, and reports
 * the lost batch as one sequence gap.
 */
export async function checkAdaptiveBatches(options: AdaptiveBatchesOptions): Promise<void> {
  const { stream, topic } = options;
  const count = options.count ?? 2_000;
  const gaps: SequenceGapError[] = [];
  const consumer = new stream.StreamConsumer(options.subscriber, {
    topics: [topic],
    onGap: (gap) => gaps.push(gap),
    lateBatchWaitMs: 0,
  });
  options.later(() => consumer.close());
  const publisher = losing(options.publisher, 2);
  const producer = new stream.StreamProducer(publisher);
  options.later(() => producer.close());
  const received: number[] = [];
  const reading = (async () => {
    for (;;) {
      const result = await consumer.nextObject();
      if (result.done === true) return;
      received.push(result.value as number);
    }
  })();
  await Promise.all(Array.from({ length: count }, (_, i) => producer.send(topic, i)));
  await producer.close({ topics: [topic] });
  await within(reading, options.inactivityMs, 'reading the adaptive batches').catch(
    (error: unknown) => {
      throw new Error(`${received.length} of ${count} objects read`, { cause: error });
    },
  );
  expect(publisher.messages, 'broker messages for the objects').toBeLessThan(count / 20);
  // What is missing is one run of consecutive objects: the lost batch.
  const seen = new Set(received);
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  expect(missing.length, 'objects of the lost batch').toBeGreaterThan(1);
  expect(missing.at(-1)! - missing[0]!).toBe(missing.length - 1);
  expect(received).toEqual(received.slice().sort((a, b) => a - b));
  expect(received).toHaveLength(count - missing.length);
  expect(gaps.map((gap) => [gap.expected, gap.received])).toEqual([[1, 2]]);
}
