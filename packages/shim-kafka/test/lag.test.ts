import { closeAfterEach, collect, label, labels, uniqueTopic } from '@proxystream/contract-tests';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions, texts } from './kafka-env.js';

beforeAll(assertKafkaRunning);

const { track } = closeAfterEach();

async function sendAll(publisher: KafkaPublisher, topic: string, items: string[]): Promise<void> {
  await Promise.all(items.map((item) => publisher.send(topic, label(item))));
}

describe('kafka subscriber lag', () => {
  it('counts the messages not yet yielded, reaches 0 once all are read, and sees new ones', async () => {
    const topic = uniqueTopic('kafka-lag');
    const pub = track(await KafkaPublisher.create(publisherOptions));
    const sent = labels('lag', 50);
    await sendAll(pub, topic, sent);
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const first = texts(await collect(sub, 20));
    // The whole topic sits in the subscriber's buffer by now: buffered messages still count.
    expect(await sub.lag()).toBe(30);
    expect(await sub.lag()).toBe(30);
    const rest = texts(await collect(sub, 30));
    expect([...first, ...rest]).toEqual(sent);
    expect(await sub.lag()).toBe(0);
    await sendAll(pub, topic, labels('more', 5));
    await vi.waitFor(async () => expect(await sub.lag()).toBe(5), { timeout: 10_000 });
    expect(texts(await collect(sub, 2))).toEqual(['more-0', 'more-1']);
    expect(await sub.lag()).toBe(3);
  });

  it('while fetching is paused on a full buffer, counts what was sent after the last fetch', async () => {
    const topic = uniqueTopic('kafka-lag-paused');
    const pub = track(await KafkaPublisher.create(publisherOptions));
    await sendAll(pub, topic, labels('a', 100));
    const sub = track(
      await KafkaSubscriber.create(topic, { ...subscriberOptions, maxBufferedMessages: 8 }),
    );
    // 8 buffered, 3 taken: 5 left, above half the buffer, so fetching stays paused.
    expect(texts(await collect(sub, 3))).toEqual(['a-0', 'a-1', 'a-2']);
    expect(await sub.lag()).toBe(97);
    await sendAll(pub, topic, labels('b', 10));
    expect(await sub.lag()).toBe(107);
    const all = texts(await collect(sub, 107));
    expect(all.at(-1)).toBe('b-9');
    expect(await sub.lag()).toBe(0);
  });

  it('counts partitions nothing was fetched from yet from the group offsets', async () => {
    const topic = uniqueTopic('kafka-lag-partitions');
    const pub = track(
      await KafkaPublisher.create({ ...publisherOptions, createTopics: { numPartitions: 3 } }),
    );
    // Keyless messages of one publisher go to one partition: the other two stay empty.
    await sendAll(pub, topic, labels('p', 12));
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    expect(texts(await collect(sub, 4))).toEqual(labels('p', 4));
    expect(await sub.lag()).toBe(8);
    await collect(sub, 8);
    expect(await sub.lag()).toBe(0);
  });

  it('is undefined after close and does not throw', async () => {
    const topic = uniqueTopic('kafka-lag-closed');
    const pub = track(await KafkaPublisher.create(publisherOptions));
    await sendAll(pub, topic, labels('c', 3));
    const sub = await KafkaSubscriber.create(topic, {
      ...subscriberOptions,
      maxBufferedMessages: 1,
    });
    await collect(sub, 1);
    const pending = sub.lag();
    await sub.close();
    const during = await pending;
    expect(during === undefined || during === 2).toBe(true);
    expect(await sub.lag()).toBeUndefined();
  });
});

describe('kafka messaging attributes', () => {
  it("are { system: 'kafka' }, with the group a subscriber was given", async () => {
    const topic = uniqueTopic('kafka-messaging');
    const pub = track(await KafkaPublisher.create(publisherOptions));
    expect(pub.messaging).toEqual({ system: 'kafka' });
    const own = track(await KafkaSubscriber.create(topic, subscriberOptions));
    expect(own.messaging).toEqual({ system: 'kafka' });
    const member = track(
      await KafkaSubscriber.create(topic, { ...subscriberOptions, group: `${topic}-workers` }),
    );
    expect(member.messaging).toEqual({ system: 'kafka', group: `${topic}-workers` });
    expect(Object.isFrozen(member.messaging)).toBe(true);
    expect(Object.isFrozen(pub.messaging)).toBe(true);
  });
});
