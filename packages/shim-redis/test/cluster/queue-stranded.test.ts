import { closeAfterEach, uniqueTopic, within } from '@proxystream/contract-tests';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber } from '../../src/index.js';
import { eventually } from '../env.js';
import { requireCluster, testCluster } from './cluster-env.js';

requireCluster();
const { track } = closeAfterEach();

const text = (result: IteratorResult<Uint8Array>): string =>
  Buffer.from(result.value as Uint8Array).toString();

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
    // The subscriber's own handlers were registered first: they have run when this one does.
    const client = (subscriber as unknown as { client: Cluster }).client;
    const seenClosed = new Promise<void>((resolve) => {
      for (const node of client.nodes('all')) node.once('close', () => resolve());
    });
    let killed = 0;
    for (const node of admin.nodes('master')) {
      for (const line of String(await node.client('LIST')).split('\n')) {
        const id = line.includes(owner) ? /\bid=(\d+)/.exec(line)?.[1] : undefined;
        if (id === undefined) continue;
        await node.client('KILL', 'ID', id);
        killed++;
      }
    }
    expect(killed).toBeGreaterThan(0);
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
