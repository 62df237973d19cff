import {
  InvalidArgumentError,
  isAcknowledgingSubscriber,
  MessagesLostError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/in-process-broker.js';
import { mergeSubscribers } from '../src/merged-subscriber.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { drain, topicName, within } from './helpers.js';

describe('mergeSubscribers', () => {
  it('one consumer reads several in-process topics to their ends', async () => {
    const broker = new InProcessBroker();
    const topics = [topicName('m1'), topicName('m2'), topicName('m3')];
    const subscribers = await Promise.all(topics.map((topic) => broker.subscriber(topic)));
    const merged = mergeSubscribers(subscribers);
    expect(isAcknowledgingSubscriber(merged)).toBe(false);
    const consumer = new StreamConsumer<string>(merged, { topics });
    const producer = new StreamProducer<string>(broker.publisher(), { batchSize: 3 });
    for (let i = 0; i < 30; i++)
      for (const topic of topics) await producer.send(topic, `${topic}/${i}`);
    await producer.close({ topics });
    const items = await drain(consumer.iterObjects());
    for (const topic of topics) {
      expect(items.filter((item) => item.startsWith(`${topic}/`))).toEqual(
        Array.from({ length: 30 }, (_, i) => `${topic}/${i}`),
      );
    }
  });

  it('a busy source does not starve another', async () => {
    const busy = {
      [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: false, value: Uint8Array.of(1) }),
      }),
      close: async () => undefined,
      [Symbol.asyncDispose]: async () => undefined,
    };
    const broker = new InProcessBroker();
    const quiet = await broker.subscriber('quiet');
    await broker.publisher().send('quiet', Uint8Array.of(2));
    const iterator = mergeSubscribers([busy, quiet])[Symbol.asyncIterator]();
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push((await iterator.next()).value[0] as number);
    expect(seen).toContain(2);
  });

  it('an error of one source rejects one next() and iteration goes on', async () => {
    let failed = false;
    const flaky = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          if (!failed) {
            failed = true;
            throw new MessagesLostError('lost');
          }
          return { done: true as const, value: undefined };
        },
      }),
      close: async () => undefined,
      [Symbol.asyncDispose]: async () => undefined,
    };
    const broker = new InProcessBroker();
    const other = await broker.subscriber('other');
    await broker.publisher().send('other', Uint8Array.of(7));
    const merged = mergeSubscribers([flaky, other]);
    const iterator = merged[Symbol.asyncIterator]();
    const results: unknown[] = [];
    for (let i = 0; i < 2; i++) results.push(await iterator.next().catch((e: unknown) => e));
    expect(results.some((r) => r instanceof MessagesLostError)).toBe(true);
    expect(results.some((r) => (r as IteratorResult<Uint8Array>).value?.[0] === 7)).toBe(true);
    const ending = iterator.next();
    await merged.close();
    expect(await within(ending, 2_000, 'close ends the merge')).toMatchObject({ done: true });
  });

  it('refuses an empty list', () => {
    expect(() => mergeSubscribers([])).toThrow(InvalidArgumentError);
  });
});
