import {
  closeAfterEach,
  collect,
  label,
  labels,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
  const info = String(await admin.info('server'));
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1]);
  // XINFO GROUPS reports a group's lag since Redis 7.0.
  if (!(major >= 7)) throw new Error(`these cases need Redis >= 7.0, the server runs ${major}`);
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('lag-test-*');
});

const { track } = closeAfterEach();

const topic = () => uniqueTopic('lag-test');
const connection = REDIS_URL;

async function send(name: string, items: readonly string[]): Promise<void> {
  const pub = await RedisStreamsPublisher.create({ connection });
  await Promise.all(items.map((item) => pub.send(name, label(item))));
  await pub.close();
}

const read = async (subscriber: RedisStreamsSubscriber, count: number) =>
  (await collect(subscriber, count)).map(readLabel);

describe('redis streams subscriber lag', () => {
  it('counts the entries not yet yielded, buffered ones included, and reaches 0', async () => {
    const name = topic();
    const sent = labels('lag', 40);
    await send(name, sent);
    const sub = track(await RedisStreamsSubscriber.create(name, { connection, group: 'workers' }));
    expect(await sub.lag()).toBe(40);
    // One read takes 16 entries (the default count): 6 of them are still buffered.
    const first = await read(sub, 10);
    expect(await sub.lag()).toBe(30);
    const rest = await read(sub, 30);
    expect([...first, ...rest]).toEqual(sent);
    expect(await sub.lag()).toBe(0);
    await send(name, labels('more', 5));
    expect(await sub.lag()).toBe(5);
    expect(await read(sub, 2)).toEqual(['more-0', 'more-1']);
    expect(await sub.lag()).toBe(3);
  });

  it("is the group's: what one member read is no longer counted by another", async () => {
    const name = topic();
    await send(name, labels('shared', 40));
    const one = track(
      await RedisStreamsSubscriber.create(name, { connection, group: 'workers', count: 8 }),
    );
    const two = track(await RedisStreamsSubscriber.create(name, { connection, group: 'workers' }));
    await read(one, 3);
    expect(await one.lag()).toBe(37); // 32 unread by the group, 5 buffered in `one`
    expect(await two.lag()).toBe(32);
  });

  it('is undefined when the server cannot tell (an unread entry was deleted)', async () => {
    const name = topic();
    await send(name, labels('gap', 6));
    const sub = track(await RedisStreamsSubscriber.create(name, { connection, group: 'workers' }));
    const ids = (await admin.call('XRANGE', name, '-', '+')) as [string, unknown][];
    await admin.call('XDEL', name, ids[3]![0]);
    expect(await sub.lag()).toBeUndefined();
    expect(await read(sub, 5)).toEqual(['gap-0', 'gap-1', 'gap-2', 'gap-4', 'gap-5']);
  });

  it('is undefined after close, also for a call in flight', async () => {
    const name = topic();
    await send(name, labels('closed', 3));
    const sub = await RedisStreamsSubscriber.create(name, { connection });
    const pending = sub.lag();
    await sub.close();
    expect([3, undefined]).toContain(await pending);
    expect(await sub.lag()).toBeUndefined();
  });
});

describe('redis messaging attributes', () => {
  it("are { system: 'redis' }, with the group of a Streams group member", async () => {
    const name = topic();
    const publishers = [
      track(await RedisPubSubPublisher.create({ connection })),
      track(await RedisQueuePublisher.create({ connection })),
      track(await RedisStreamsPublisher.create({ connection })),
    ];
    for (const publisher of publishers) expect(publisher.messaging).toEqual({ system: 'redis' });
    const pubsub = track(await RedisPubSubSubscriber.create(name, { connection }));
    const queue = track(await RedisQueueSubscriber.create(name, { connection, group: 'ignored' }));
    const own = track(await RedisStreamsSubscriber.create(`${name}-s`, { connection }));
    const member = track(
      await RedisStreamsSubscriber.create(`${name}-s`, { connection, group: 'workers' }),
    );
    expect(pubsub.messaging).toEqual({ system: 'redis' });
    expect(queue.messaging).toEqual({ system: 'redis' });
    expect(own.messaging).toEqual({ system: 'redis' });
    expect(member.messaging).toEqual({ system: 'redis', group: 'workers' });
    expect(Object.isFrozen(member.messaging)).toBe(true);
    expect('lag' in pubsub).toBe(false);
    expect('lag' in queue).toBe(false);
  });
});
