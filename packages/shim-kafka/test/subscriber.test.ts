import {
  closeAfterEach,
  collect,
  drain,
  label,
  labels,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { AbortedError, BrokerError, InvalidArgumentError } from '@proxystream/protocols';
import { beforeAll, describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import {
  assertKafkaRunning,
  countingClient,
  publisherOptions,
  subscriberOptions,
  texts,
} from './kafka-env.js';

beforeAll(assertKafkaRunning);

const { track } = closeAfterEach();

describe('kafka subscriber', () => {
  it("with start: 'now' starts after the messages already in the topic", async () => {
    const topic = uniqueTopic('kafka-latest');
    const pub = track(await KafkaPublisher.create(publisherOptions));
    await pub.send(topic, label('old'));
    const sub = track(await KafkaSubscriber.create(topic, { ...subscriberOptions, start: 'now' }));
    await pub.send(topic, label('new'));
    expect(texts(await collect(sub, 1))).toEqual(['new']);
    expect(await drain(sub, 300)).toEqual([]);
  });

  it('pauses fetching at a small buffer and still delivers everything in order', async () => {
    const topic = uniqueTopic('kafka-slow');
    const sub = track(
      await KafkaSubscriber.create(topic, {
        ...subscriberOptions,
        maxBufferedMessages: 8,
        maxBufferedBytes: 4096,
      }),
    );
    const pub = track(await KafkaPublisher.create(publisherOptions));
    const sent = labels('slow', 500);
    await Promise.all(sent.map((item) => pub.send(topic, label(item))));
    const received: string[] = [];
    for (let i = 0; i < sent.length; i++) {
      received.push(...texts(await collect(sub, 1)));
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 150)); // a slow reader
    }
    expect(received).toEqual(sent);
  });

  it('rejects a topic that does not exist when not asked to create it', async () => {
    const topic = uniqueTopic('kafka-missing');
    const error = await KafkaSubscriber.create(topic, {
      ...subscriberOptions,
      createTopics: false,
      consumer: { retry: { retries: 1, initialRetryTime: 100 } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).message).toContain('createKafkaTopics');
  });

  it('an already aborted signal rejects create with AbortedError and opens nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const { kafka, made } = countingClient();
    await expect(
      KafkaSubscriber.create(uniqueTopic('kafka-abort'), {
        ...subscriberOptions,
        connection: kafka,
        signal: controller.signal,
      }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(made).toEqual({ producer: 0, consumer: 0, admin: 0 });
  });

  it('a signal aborted while joining rejects create with AbortedError', async () => {
    const controller = new AbortController();
    const topic = uniqueTopic('kafka-abort-join');
    const { kafka, made } = countingClient();
    // Abort at the moment the consumer starts to connect, so the join is surely in progress
    // (a poll for the consumer's creation could see it only after the join finished).
    const makeConsumer = kafka.consumer;
    kafka.consumer = (config) => {
      const consumer = makeConsumer(config);
      const connect = consumer.connect.bind(consumer);
      consumer.connect = () => {
        controller.abort();
        return connect();
      };
      return consumer;
    };
    const creating = KafkaSubscriber.create(topic, {
      ...subscriberOptions,
      connection: kafka,
      signal: controller.signal,
    });
    await expect(within(creating, 15_000, 'aborted create')).rejects.toBeInstanceOf(AbortedError);
    expect(made.consumer).toBe(1);
  });

  it('a signal aborted later ends the iteration like close()', async () => {
    const controller = new AbortController();
    const topic = uniqueTopic('kafka-abort-later');
    const sub = track(
      await KafkaSubscriber.create(topic, { ...subscriberOptions, signal: controller.signal }),
    );
    const pending = sub.next();
    controller.abort();
    expect(await within(pending, 5_000, 'next() after abort')).toEqual({
      value: undefined,
      done: true,
    });
  });

  it('await using closes the subscriber at the end of the scope', async () => {
    const topic = uniqueTopic('kafka-dispose');
    let kept: KafkaSubscriber | undefined;
    {
      await using sub = await KafkaSubscriber.create(topic, subscriberOptions);
      kept = sub;
      expect(sub.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
  });

  it('rejects options out of range with InvalidArgumentError before contacting the broker', async () => {
    const { kafka, made } = countingClient();
    const topic = uniqueTopic('kafka-options');
    for (const options of [
      { maxBufferedMessages: 0 },
      { maxBufferedBytes: 1.5 },
      { readyTimeoutMs: Number.POSITIVE_INFINITY },
      { start: 'later' as 'now' },
    ]) {
      await expect(
        KafkaSubscriber.create(topic, { connection: kafka, ...options }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(made).toEqual({ producer: 0, consumer: 0, admin: 0 });
  });

  it('close() while another member is joining returns promptly', async () => {
    const topic = uniqueTopic('kafka-close-busy');
    const group = `${topic}-group`;
    const first = track(await KafkaSubscriber.create(topic, { ...subscriberOptions, group }));
    const joining = KafkaSubscriber.create(topic, { ...subscriberOptions, group });
    await within(first.close(), 5_000, 'close during a rebalance');
    track(await joining);
  });

  it('offsets moved past within a millisecond go out in one commit, not one per message; ack() commits at once', async () => {
    const topic = uniqueTopic('kafka-commit-gather');
    const { kafka } = countingClient();
    const commits: string[][] = [];
    const makeConsumer = kafka.consumer;
    kafka.consumer = (config) => {
      const consumer = makeConsumer(config);
      const commitOffsets = consumer.commitOffsets.bind(consumer);
      consumer.commitOffsets = (offsets) => {
        commits.push(offsets.map((o) => o.offset));
        return commitOffsets(offsets);
      };
      return consumer;
    };
    const pub = track(await KafkaPublisher.create(publisherOptions));
    const sub = track(
      await KafkaSubscriber.create(topic, { ...subscriberOptions, connection: kafka }),
    );
    for (const item of ['a', 'b', 'c', 'd']) await pub.send(topic, label(item));
    const messages = sub[Symbol.asyncIterator]();
    await messages.next(); // a
    await messages.next(); // b: moves past a
    // A commit request made at once would be on its way within these turns of the microtask queue.
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(commits).toEqual([]);
    await messages.next(); // c: moves past b
    await within(
      (async () => {
        while (commits.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      5_000,
      'the gathered commit',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(commits).toEqual([['2']]);
    // ack() does not wait for marks to gather: it commits c now.
    const acked = sub.ack();
    for (let i = 0; i < 20 && commits.length === 1; i++) await Promise.resolve();
    expect(commits).toEqual([['2'], ['3']]);
    await acked;
  });
});
