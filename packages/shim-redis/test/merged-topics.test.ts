import { uniqueTopic, within } from '@proxystream/contract-tests';
import { mergeSubscribers, StreamConsumer, StreamProducer } from '@proxystream/stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber } from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('merged-test-*');
});

describe('one consumer over several list-queue topics', () => {
  it('reads every topic to its end and leaves nothing in Redis', async () => {
    const topics = [uniqueTopic('merged-test-a'), uniqueTopic('merged-test-b')];
    const subscribers = await Promise.all(
      topics.map((topic) => RedisQueueSubscriber.create(topic, { connection: REDIS_URL })),
    );
    const consumer = new StreamConsumer<string>(mergeSubscribers(subscribers), { topics });
    const producer = new StreamProducer<string>(
      await RedisQueuePublisher.create({ connection: REDIS_URL }),
    );
    for (let i = 0; i < 50; i++) {
      for (const topic of topics) await producer.send(topic, `${topic}:${i}`);
    }
    await producer.close({ topics });
    const received: string[] = [];
    await within(
      (async () => {
        for await (const item of consumer.iterObjects()) received.push(item);
      })(),
      20_000,
      'draining both topics',
    );
    for (const topic of topics) {
      const own = received.filter((item) => item.startsWith(`${topic}:`));
      expect(own).toEqual(Array.from({ length: 50 }, (_, i) => `${topic}:${i}`));
    }
    // The last message of each topic was acknowledged through the merge: no list, no pending list.
    for (const subscriber of subscribers) {
      expect(await admin.exists(subscriber.pendingKey)).toBe(0);
    }
    for (const topic of topics) expect(await admin.llen(topic)).toBe(0);
  });

  it('a message waiting in the merge is not acknowledged before the caller moved past it', async () => {
    const topics = [uniqueTopic('merged-test-c'), uniqueTopic('merged-test-d')];
    const publisher = await RedisQueuePublisher.create({ connection: REDIS_URL });
    await publisher.send(topics[0]!, Uint8Array.of(1));
    await publisher.send(topics[1]!, Uint8Array.of(2));
    const subscribers = await Promise.all(
      topics.map((topic) => RedisQueueSubscriber.create(topic, { connection: REDIS_URL })),
    );
    const merged = mergeSubscribers(subscribers);
    const iterator = merged[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    // Both sources were read: each holds its message in its pending list.
    await within(
      (async () => {
        while (
          (await admin.llen(subscribers[0]!.pendingKey)) +
            (await admin.llen(subscribers[1]!.pendingKey)) <
          2
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
      5_000,
      'both messages taken',
    );
    if (!('ack' in merged)) throw new Error('a merge of list queues acknowledges');
    await merged.ack();
    const pending = await Promise.all(subscribers.map((s) => admin.llen(s.pendingKey)));
    // The message yielded was acknowledged; the one the caller has not seen is still held.
    expect([...pending].sort()).toEqual([0, 1]);
    await merged.close();
    await publisher.close();
    // Closing handed the unseen message back to its queue.
    const lengths = await Promise.all(topics.map((topic) => admin.llen(topic)));
    expect([...lengths].sort()).toEqual([0, 1]);
  });
});
