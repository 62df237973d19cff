import { closeAfterEach, uniqueTopic } from '@proxystream/contract-tests';
import { describe, expect, it } from 'vitest';
import { RedisPubSubPublisher, RedisPubSubSubscriber } from '../../src/index.js';
import { requireCluster, testCluster } from './cluster-env.js';

requireCluster();
const { track } = closeAfterEach();

describe('Redis pub/sub on a Redis Cluster (sharded)', () => {
  it('delivers 5 000 messages of one topic in order, with no loss reported, from three topics at once', async () => {
    const topics = [uniqueTopic('order-a'), uniqueTopic('order-b'), uniqueTopic('order-c')];
    const losses: unknown[] = [];
    const subscribers = await Promise.all(
      topics.map(async (topic) =>
        track(
          await RedisPubSubSubscriber.create(topic, {
            connection: testCluster(),
            onLoss: (error) => losses.push(error),
          }),
        ),
      ),
    );
    const publisher = track(await RedisPubSubPublisher.create({ connection: testCluster() }));
    const count = 5_000;
    const readers = subscribers.map(async (subscriber) => {
      const seen: number[] = [];
      while (seen.length < count) {
        const { done, value } = await subscriber.next();
        if (done) break;
        seen.push(Number(Buffer.from(value).toString()));
      }
      return seen;
    });
    for (let i = 0; i < count; i++) {
      for (const topic of topics) await publisher.send(topic, Buffer.from(String(i)));
    }
    const expected = Array.from({ length: count }, (_, i) => i);
    for (const seen of await Promise.all(readers)) expect(seen).toEqual(expected);
    expect(losses).toEqual([]);
  });
});
