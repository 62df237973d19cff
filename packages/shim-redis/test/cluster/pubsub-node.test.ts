import { closeAfterEach, uniqueTopic } from '@proxystream/contract-tests';
import { InvalidArgumentError } from '@proxystream/protocols';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { slotShard } from '../../src/cluster-slots.js';
import { RedisPubSubPublisher, RedisPubSubSubscriber, type ShardedNode } from '../../src/index.js';
import { requireCluster, testCluster } from './cluster-env.js';

requireCluster();
const { track } = closeAfterEach();

/** Sharded subscriptions (`ssub=` of CLIENT LIST) the node at `port` holds. */
async function shardedSubscriptions(port: number): Promise<number> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    await client.connect();
    const list = (await client.client('LIST')) as string;
    return [...list.matchAll(/ ssub=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  } finally {
    client.disconnect();
  }
}

describe('Redis pub/sub on a Redis Cluster: the node a sharded subscriber listens on', () => {
  for (const [node, expected] of [
    [undefined, 'master'],
    ['master', 'master'],
    ['replica', 'replica'],
  ] as const) {
    it(`shardedNode ${node ?? '(default)'} subscribes on the slot's ${expected} and receives in order`, async () => {
      const topic = uniqueTopic('pubsub-node');
      const shard = await slotShard(testCluster(), topic);
      const replica = shard.replicas[0];
      expect(replica, 'the slot has a replica').toBeDefined();
      const before = {
        master: await shardedSubscriptions(shard.master.port),
        replica: await shardedSubscriptions(replica!.port),
      };
      const subscriber = track(
        await RedisPubSubSubscriber.create(topic, {
          connection: testCluster(),
          ...(node === undefined ? {} : { shardedNode: node as ShardedNode }),
        }),
      );
      const after = {
        master: await shardedSubscriptions(shard.master.port),
        replica: await shardedSubscriptions(replica!.port),
      };
      const other = expected === 'master' ? 'replica' : 'master';
      expect(after[expected] - before[expected]).toBe(1);
      expect(after[other] - before[other]).toBe(0);
      const publisher = track(await RedisPubSubPublisher.create({ connection: testCluster() }));
      for (let i = 0; i < 20; i++) await publisher.send(topic, Buffer.from(String(i)));
      const received: string[] = [];
      for (let i = 0; i < 20; i++) {
        received.push(Buffer.from((await subscriber.next()).value as Uint8Array).toString());
      }
      expect(received).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    });
  }

  it('refuses a shardedNode that is neither master nor replica', async () => {
    await expect(
      RedisPubSubSubscriber.create(uniqueTopic('pubsub-node'), {
        connection: testCluster(),
        shardedNode: 'leader' as ShardedNode,
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
