import {
  InvalidArgumentError,
  type Publisher,
  SequenceGapError,
  StreamIdleError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { topicName, within } from './helpers.js';

describe('a stream whose producer went silent', () => {
  it('next() rejects with StreamIdleError after idleTimeoutMs, and iteration can go on', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('idle');
    const consumer = new StreamConsumer<number>(await broker.subscriber(topic), {
      idleTimeoutMs: 150,
    });
    const producer = new StreamProducer<number>(broker.publisher());
    await producer.send(topic, 1);
    await producer.send(topic, 2);
    expect(await consumer.nextObject()).toEqual({ done: false, value: 1 });
    expect(await consumer.nextObject()).toEqual({ done: false, value: 2 });
    const started = Date.now();
    const error = await within(
      consumer.nextObject().catch((e: unknown) => e),
      5_000,
      'idle next',
    );
    expect(error).toBeInstanceOf(StreamIdleError);
    expect((error as StreamIdleError).code).toBe('STREAM_IDLE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // The producer comes back: nothing was dropped by the idle report.
    const pending = consumer.nextObject();
    await producer.send(topic, 3);
    await producer.closeTopics(topic);
    expect(await within(pending, 5_000, 'next after idle')).toEqual({ done: false, value: 3 });
    expect(await within(consumer.nextObject(), 5_000, 'end')).toEqual({
      done: true,
      value: undefined,
    });
    await producer.close();
  });

  it('a message that arrives within the limit resets it', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('idle-reset');
    const consumer = new StreamConsumer<number>(await broker.subscriber(topic), {
      idleTimeoutMs: 300,
    });
    const producer = new StreamProducer<number>(broker.publisher());
    const timer = setInterval(() => void producer.send(topic, 0), 50);
    try {
      for (let i = 0; i < 15; i++) expect((await consumer.nextObject()).done).toBe(false);
    } finally {
      clearInterval(timer);
    }
    await producer.close({ topics: [topic] });
    await consumer.close();
  });

  it('refuses a limit that is not a positive number', async () => {
    const broker = new InProcessBroker();
    const subscriber = await broker.subscriber(topicName('idle-bad'));
    expect(() => new StreamConsumer(subscriber, { idleTimeoutMs: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new StreamConsumer(subscriber, { idleTimeoutMs: Number.NaN })).toThrow(
      InvalidArgumentError,
    );
    await subscriber.close();
  });
});

describe('heartbeats', () => {
  it('keep a quiet producer from looking idle', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('heartbeat');
    const consumer = new StreamConsumer<number>(await broker.subscriber(topic), {
      idleTimeoutMs: 250,
    });
    const producer = new StreamProducer<number>(broker.publisher(), { heartbeatMs: 50 });
    await producer.send(topic, 1);
    expect(await consumer.nextObject()).toEqual({ done: false, value: 1 });
    const second = consumer.nextObject();
    await new Promise((resolve) => setTimeout(resolve, 700));
    await producer.send(topic, 2);
    expect(await within(second, 5_000, 'second')).toEqual({ done: false, value: 2 });
    await producer.close({ topics: [topic] });
    expect(await within(consumer.nextObject(), 5_000, 'end')).toEqual({
      done: true,
      value: undefined,
    });
  });

  it('reveal a lost last batch as a gap, and stop after the end of stream', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('heartbeat-gap');
    const inner = broker.publisher();
    let calls = 0;
    // Drops the second message silently, as a fan-out broker does with a cut connection.
    const lossy: Publisher = {
      send: async (t, message) => {
        if (calls++ !== 1) await inner.send(t, message);
      },
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
    };
    const subscriber = await broker.subscriber(topic);
    const consumer = new StreamConsumer<number>(subscriber, { idleTimeoutMs: 2_000 });
    const producer = new StreamProducer<number>(lossy, { heartbeatMs: 40 });
    await producer.send(topic, 1);
    await producer.send(topic, 2);
    expect(await consumer.nextObject()).toEqual({ done: false, value: 1 });
    const error = await within(
      consumer.nextObject().catch((e: unknown) => e),
      5_000,
      'gap',
    );
    expect(error).toBeInstanceOf(SequenceGapError);
    expect((error as SequenceGapError).missing).toBe(1);
    await producer.close({ topics: [topic] });
    expect(await within(consumer.nextObject(), 5_000, 'end')).toEqual({
      done: true,
      value: undefined,
    });
  });

  it('refuse an interval that is not a finite positive number', () => {
    const broker = new InProcessBroker();
    expect(() => new StreamProducer(broker.publisher(), { heartbeatMs: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(
      () => new StreamProducer(broker.publisher(), { heartbeatMs: Number.POSITIVE_INFINITY }),
    ).toThrow(InvalidArgumentError);
  });
});
