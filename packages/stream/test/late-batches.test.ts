import type { EventBatch, SequenceGapError, StreamEvent } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { encodeBatch } from '../src/wire-codec.js';

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

describe('waiting for batches an acknowledging broker delivers again (lateBatchWaitMs)', () => {
  /** The in-process event subscriber, or a byte one dressed as an acknowledging subscriber. */
  async function setUp(
    topic: string,
    options: { lateBatchWaitMs?: number; redeliveryMs?: number },
  ) {
    const broker = new InProcessBroker();
    const gaps: SequenceGapError[] = [];
    const subscriber =
      options.redeliveryMs === undefined
        ? await broker.eventSubscriber(topic)
        : Object.assign(await broker.subscriber(topic), {
            acks: 0,
            redeliveryMs: options.redeliveryMs,
            async ack() {
              this.acks++;
            },
          });
    const consumer = new StreamConsumer<number>(subscriber, {
      onGap: (error) => gaps.push(error),
      ...(options.lateBatchWaitMs === undefined
        ? {}
        : { lateBatchWaitMs: options.lateBatchWaitMs }),
    });
    return { broker, consumer, gaps };
  }

  async function sendAll(
    publisher: ReturnType<InProcessBroker['eventPublisher']>,
    topic: string,
    sequences: ReadonlyArray<readonly [number, boolean?]>,
  ): Promise<void> {
    for (const [sequence, end] of sequences)
      await publisher.sendEvents(batch(topic, sequence, end));
  }

  /** Lets 300 ms pass, as a broker's redelivery would, and checks the consumer is still waiting. */
  async function stillWaitingAfter300ms(consumer: StreamConsumer<number>): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(consumer.ended).toBe(false);
  }

  async function readAll(consumer: StreamConsumer<number>): Promise<number[]> {
    const received: number[] = [];
    for await (const value of consumer.iterObjects()) received.push(value);
    return received;
  }

  it('a batch missing below the end of stream is waited for and delivered, not reported', async () => {
    const { broker, consumer, gaps } = await setUp('late-wait-fill', { lateBatchWaitMs: 10_000 });
    const publisher = broker.eventPublisher();
    await sendAll(publisher, 'late-wait-fill', [[0], [2], [3, true]]);
    const reading = readAll(consumer);
    // Delivered again well after the end of stream, as a broker's redelivery would be.
    await stillWaitingAfter300ms(consumer);
    await publisher.sendEvents(batch('late-wait-fill', 1));
    expect(await reading).toEqual([0, 2, 3, 1]);
    expect(gaps).toEqual([]);
    await broker.close();
  });

  it('a batch that does not come within the wait is reported once, and iteration ends', async () => {
    const { broker, consumer, gaps } = await setUp('late-wait-lost', { lateBatchWaitMs: 200 });
    const publisher = broker.eventPublisher();
    await sendAll(publisher, 'late-wait-lost', [[0], [3], [4, true]]);
    expect(await readAll(consumer)).toEqual([0, 3, 4]);
    expect(gaps.map((gap) => [gap.expected, gap.received])).toEqual([[1, 3]]);
    await broker.close();
  });

  it("with onGap 'error', the overdue hole rejects next() once and iteration can go on", async () => {
    const broker = new InProcessBroker();
    const consumer = new StreamConsumer<number>(await broker.eventSubscriber('late-wait-error'), {
      lateBatchWaitMs: 150,
    });
    const publisher = broker.eventPublisher();
    await sendAll(publisher, 'late-wait-error', [[0], [2, true]]);
    expect(await consumer.nextObject()).toEqual({ done: false, value: 0 });
    expect(await consumer.nextObject()).toEqual({ done: false, value: 2 });
    const error = await consumer.nextObject().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'SEQUENCE_GAP', expected: 1, received: 2 });
    expect(await consumer.nextObject()).toEqual({ done: true, value: undefined });
    await broker.close();
  });

  it("defaults to the subscriber's declared redelivery time, and to no wait without one", async () => {
    const late = await setUp('late-wait-default', { redeliveryMs: 1 });
    const lost: number[] = [];
    const started = Date.now();
    const publisher = await late.broker.publisher();
    for (const [sequence, end] of [[0], [2, true]] as const) {
      const events: StreamEvent[] = [
        {
          type: 'new-object',
          metadata: {},
          evict: false,
          body: { kind: 'inline', data: defaultSerializer.serialize(sequence) },
        },
      ];
      if (end) events.push({ type: 'end-of-stream' });
      await publisher.send(
        'late-wait-default',
        encodeBatch({ topic: 'late-wait-default', producerId: 'p', sequence, events }),
      );
    }
    for await (const value of late.consumer.iterObjects()) lost.push(value);
    // 1 ms declared + the 2 s margin: the hole was waited for, then reported.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(lost).toEqual([0, 2]);
    expect(late.gaps.map((gap) => [gap.expected, gap.received])).toEqual([[1, 2]]);
    await late.broker.close();

    const plain = await setUp('late-wait-none', {});
    const publisherB = plain.broker.eventPublisher();
    await publisherB.sendEvents(batch('late-wait-none', 0));
    await publisherB.sendEvents(batch('late-wait-none', 2, true));
    const reading = readAll(plain.consumer);
    // Reported as soon as the jump is seen, before the iteration ends.
    expect(await reading).toEqual([0, 2]);
    expect(plain.gaps.map((gap) => [gap.expected, gap.received])).toEqual([[1, 2]]);
    await plain.broker.close();
  });

  it('a consumer whose first batch of a producer was not its first waits at the end for older ones', async () => {
    // Taking over from a consumer that died holding batches 3 and 4: the broker delivers them
    // again after the end of stream came.
    const { broker, consumer, gaps } = await setUp('late-wait-takeover', {
      lateBatchWaitMs: 1_000,
    });
    const publisher = broker.eventPublisher();
    await sendAll(publisher, 'late-wait-takeover', [[5], [6, true]]);
    const reading = readAll(consumer);
    await stillWaitingAfter300ms(consumer);
    await publisher.sendEvents(batch('late-wait-takeover', 3));
    await publisher.sendEvents(batch('late-wait-takeover', 4));
    expect(await reading).toEqual([5, 6, 3, 4]);
    expect(gaps).toEqual([]);
    await broker.close();
  });

  it('a consumer that joined late and gets nothing older ends after the wait, reporting nothing', async () => {
    const { broker, consumer, gaps } = await setUp('late-wait-joined', { lateBatchWaitMs: 250 });
    const publisher = broker.eventPublisher();
    await sendAll(publisher, 'late-wait-joined', [[5], [6, true]]);
    const started = Date.now();
    expect(await readAll(consumer)).toEqual([5, 6]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(gaps).toEqual([]);
    await broker.close();
  });

  it('refuses a negative or non-finite wait', async () => {
    const broker = new InProcessBroker();
    const subscriber = await broker.eventSubscriber('late-wait-bad');
    expect(() => new StreamConsumer(subscriber, { lateBatchWaitMs: -1 })).toThrow(
      /lateBatchWaitMs/,
    );
    expect(() => new StreamConsumer(subscriber, { lateBatchWaitMs: Number.NaN })).toThrow(
      /lateBatchWaitMs/,
    );
    await broker.close();
  });
});
