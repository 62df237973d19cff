import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closeAfterEach, uniqueTopic } from '@proxystream/contract-tests';
import { MessagesLostError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { slotShard } from '../../src/cluster-slots.js';
import { RedisPubSubPublisher, RedisPubSubSubscriber } from '../../src/index.js';
import { requireCluster, testCluster } from './cluster-env.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const clusters = (...args: string[]) =>
  promisify(execFile)('bash', ['scripts/clusters.sh', ...args], { cwd: root, timeout: 180_000 });

requireCluster();
const { track } = closeAfterEach();

describe('Redis pub/sub on a Redis Cluster, when the subscriber’s node dies', () => {
  it('next() rejects with MessagesLostError once, and the subscriber goes on with later messages', async () => {
    const topic = uniqueTopic('pubsub-loss');
    const subscriber = track(
      await RedisPubSubSubscriber.create(topic, { connection: testCluster() }),
    );
    const publisher = track(await RedisPubSubPublisher.create({ connection: testCluster() }));
    const shard = await slotShard(testCluster(), topic);
    // The node the subscriber listens on by default: the slot's master.
    const node = String(shard.master.port);
    await publisher.send(topic, Buffer.from('before'));
    expect(Buffer.from((await subscriber.next()).value as Uint8Array).toString()).toBe('before');
    await clusters('kill', 'redis', node);
    try {
      await clusters('wait', 'redis');
      await expect(subscriber.next()).rejects.toBeInstanceOf(MessagesLostError);
      expect(subscriber.connectionLosses).toBe(1);
      // Resubscribed elsewhere: a message sent from now on arrives (sent until it does).
      const sending = setInterval(() => {
        publisher.send(topic, Buffer.from('after')).catch(() => undefined);
      }, 50);
      try {
        expect(Buffer.from((await subscriber.next()).value as Uint8Array).toString()).toBe('after');
      } finally {
        clearInterval(sending);
      }
    } finally {
      await clusters('restart', 'redis', node);
    }
  }, 120_000);
});
