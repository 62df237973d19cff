import type { EventBatch, SequenceGapError, StreamEvent } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';

const object = (value: number): StreamEvent => ({
  type: 'new-object',
  metadata: {},
  evict: false,
  body: { kind: 'live', value },
});

function batch(topic: string, sequence: number, end = false): EventBatch {
  const events: StreamEvent[] = [object(sequence)];
  if (end) events.push({ type: 'end-of-stream' });
  return { topic, producerId: 'p', sequence, events };
}

async function consume(topic: string, sequences: Array<[number, boolean?]>) {
  const broker = new InProcessBroker();
  const gaps: SequenceGapError[] = [];
  const consumer = new StreamConsumer<number>(await broker.eventSubscriber(topic), {
    onGap: (error) => gaps.push(error),
  });
  const publisher = broker.eventPublisher();
  for (const [sequence, end] of sequences) await publisher.sendEvents(batch(topic, sequence, end));
  const received: number[] = [];
  for await (const value of consumer.iterObjects()) received.push(value);
  await broker.close();
  return { received, gaps };
}

describe('batches delivered late by an acknowledging broker', () => {
  it('a redelivered batch fills its hole instead of being dropped as a duplicate', async () => {
    const { received, gaps } = await consume('late-fill', [[0], [2], [1], [1], [3, true]]);
    expect(received).toEqual([0, 2, 1, 3]);
    // The jump 0 → 2 is reported when seen; the second copy of 1 is a duplicate.
    expect(gaps.map((gap) => [gap.expected, gap.received])).toEqual([
      [1, 2],
      [3, 1],
    ]);
  });

  it('a batch older than the first one seen is delivered, and a hole left below it is reported at the end', async () => {
    const { received, gaps } = await consume('late-older', [[5], [3], [6, true]]);
    expect(received).toEqual([5, 3, 6]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.expected).toBe(4);
    expect(gaps[0]!.missing).toBe(1);
  });

  it('a hole filled before the end of stream is not reported again', async () => {
    const { received, gaps } = await consume('late-older-filled', [[5], [3], [4], [6, true]]);
    expect(received).toEqual([5, 3, 4, 6]);
    expect(gaps).toEqual([]);
  });
});
