import { closeAfterEach, uniqueTopic, within } from '@proxystream/contract-tests';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../../src/index.js';
import { eventually } from '../env.js';
import { requireCluster, testCluster } from './cluster-env.js';

requireCluster();
const { track } = closeAfterEach();

const text = (result: IteratorResult<Uint8Array>): string =>
  Buffer.from(result.value as Uint8Array).toString();

/** Resolves once any node connection of `subscriber`'s own cluster client closed. */
function closeSeen(subscriber: object): Promise<void> {
  // The subscriber's own handlers were registered first: they have run when this one does.
  const client = (subscriber as { client: Cluster }).client;
  return new Promise<void>((resolve) => {
    for (const node of client.nodes('all')) node.once('close', () => resolve());
  });
}

/** Kills, on every master, the connections CLIENT LIST shows with `match`; how many it killed. */
async function killConnections(admin: Cluster, match: string): Promise<number> {
  let killed = 0;
  for (const node of admin.nodes('master')) {
    for (const line of String(await node.client('LIST')).split('\n')) {
      const id = line.includes(match) ? /\bid=(\d+)/.exec(line)?.[1] : undefined;
      if (id === undefined) continue;
      await node.client('KILL', 'ID', id);
      killed++;
    }
  }
  return killed;
}

describe('the Redis list queue on a Redis Cluster: a read whose reply a lost connection cut', () => {
  it('delivers the message stranded in the pending list after the reconnect, once, and acknowledges it', async () => {
    const topic = uniqueTopic('queue-stranded');
    const publisher = track(await RedisQueuePublisher.create({ connection: testCluster() }));
    for (const item of ['held', 'stranded', 'later'])
      await publisher.send(topic, Buffer.from(item));
    const subscriber = track(
      await RedisQueueSubscriber.create(topic, { connection: testCluster() }),
    );
    // 'held' is yielded and not acknowledged; then a move whose reply never came: 'stranded' sits
    // in the pending list (in the topic's slot), unknown to the subscriber.
    expect(text(await subscriber.next())).toBe('held');
    const admin = testCluster();
    await admin.lmove(topic, subscriber.pendingKey, 'LEFT', 'RIGHT');
    const owner = `name=proxystream-queue:${subscriber.pendingKey.split(':pending:')[1]}`;
    const seenClosed = closeSeen(subscriber);
    expect(await killConnections(admin, owner)).toBeGreaterThan(0);
    // Moving on only once the client saw the loss, as a reader waiting on a cut read would.
    await within(seenClosed, 5_000, 'the subscriber seeing its connection close');
    // After the reconnect: the stranded message, then the rest of the queue; 'held' not again.
    expect([text(await subscriber.next()), text(await subscriber.next())]).toEqual([
      'stranded',
      'later',
    ]);
    await subscriber.ack();
    expect(
      await eventually(async () => (await admin.llen(subscriber.pendingKey)) === 0, 5_000),
    ).toBe(true);
    expect(await admin.llen(topic)).toBe(0);
  }, 30_000);
});

describe('Redis Streams on a Redis Cluster: a read whose reply a lost connection cut', () => {
  it("delivers the entry it left in the consumer's pending list after the reconnect, not a claim interval later", async () => {
    const topic = uniqueTopic('streams-stranded');
    const group = `${topic}-group`;
    const consumer = 'stranded-consumer';
    const publisher = track(await RedisStreamsPublisher.create({ connection: testCluster() }));
    const subscriber = track(
      await RedisStreamsSubscriber.create(topic, {
        connection: testCluster(),
        group,
        consumer,
        count: 1,
      }),
    );
    for (const item of ['held', 'stranded', 'later'])
      await publisher.send(topic, Buffer.from(item));
    expect(text(await subscriber.next())).toBe('held');
    // A read whose reply never came: 'stranded' is pending for this consumer, unknown to it.
    const admin = testCluster();
    await admin.xreadgroup('GROUP', group, consumer, 'COUNT', 1, 'STREAMS', topic, '>');
    const seenClosed = closeSeen(subscriber);
    // The connections whose last command read the stream: the subscriber's and the admin's own.
    expect(await killConnections(admin, 'cmd=xreadgroup')).toBeGreaterThan(0);
    await within(seenClosed, 5_000, 'the subscriber seeing its connection close');
    // Well before the claim of idle entries (30 s by default) would bring it back.
    const next = await within(
      (async () => [text(await subscriber.next()), text(await subscriber.next())])(),
      10_000,
      'the stranded entry',
    );
    expect(next).toEqual(['stranded', 'later']);
  }, 30_000);
});
