import { closeAfterEach, uniqueTopic } from '@proxystream/contract-tests';
import { describe, expect, it } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber } from '../../src/index.js';
import { requireCluster, testCluster } from './cluster-env.js';

requireCluster();
const { track } = closeAfterEach();

describe('the Redis list queue on a Redis Cluster', () => {
  it('a subscriber that died holding a message has it handed back to another', async () => {
    const topic = uniqueTopic('queue-crash');
    const publisher = track(await RedisQueuePublisher.create({ connection: testCluster() }));
    await publisher.send(topic, Buffer.from('a'));
    await publisher.send(topic, Buffer.from('b'));
    const crashed = await RedisQueueSubscriber.create(topic, { connection: testCluster() });
    const first = await crashed.next();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe('a');
    // A crash: the connection goes without close(), so 'a' stays in the pending list and the
    // heartbeat stops.
    (crashed as unknown as { client: { disconnect(): void } }).client.disconnect();
    const survivor = track(await RedisQueueSubscriber.create(topic, { connection: testCluster() }));
    const seen: string[] = [];
    const deadline = Date.now() + 20_000;
    while (seen.length < 2 && Date.now() < deadline) {
      const { value } = await survivor.next();
      seen.push(Buffer.from(value as Uint8Array).toString());
    }
    expect(seen.sort()).toEqual(['a', 'b']);
    await crashed.close().catch(() => undefined);
  }, 40_000);
});
