import { collect, drain, label, labels, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamsPublisher, RedisStreamsSubscriber } from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('streams-test-*');
});

const topic = () => uniqueTopic('streams-test');
const send = async (name: string, items: readonly string[], options = {}) => {
  const pub = await RedisStreamsPublisher.create({ connection: REDIS_URL, ...options });
  for (const item of items) await pub.send(name, label(item));
  await pub.close();
};
const pendingCount = async (name: string, group: string) =>
  ((await admin.call('XPENDING', name, group)) as [number])[0];

describe('redis streams', () => {
  it('messages of a consumer that died are claimed by another after the idle time', async () => {
    const name = topic();
    const group = 'workers';
    await admin.call('XGROUP', 'CREATE', name, group, '0', 'MKSTREAM');
    await send(name, ['lost-1', 'lost-2']);
    // A consumer reads both, then dies without acknowledging.
    await admin.call('XREADGROUP', 'GROUP', group, 'dead', 'COUNT', 10, 'STREAMS', name, '>');
    await send(name, ['fresh']);
    const started = Date.now();
    const sub = await RedisStreamsSubscriber.create(name, {
      connection: REDIS_URL,
      group,
      claimIdleMs: 400,
    });
    const received = (await collect(sub, 3)).map(readLabel);
    const elapsed = Date.now() - started;
    expect(received).toContain('fresh');
    expect(received.filter((item) => item.startsWith('lost')).sort()).toEqual(['lost-1', 'lost-2']);
    // Claimed only once idle long enough: 'fresh' came first.
    expect(received[0]).toBe('fresh');
    expect(elapsed).toBeGreaterThanOrEqual(300);
    await sub.ack();
    expect(await pendingCount(name, group)).toBe(0);
    await sub.close();
  });

  it('acknowledges the entries a fast reader moves past in one XACK per read', async () => {
    const name = topic();
    await send(name, labels('m', 8));
    const sub = await RedisStreamsSubscriber.create(name, {
      connection: REDIS_URL,
      group: 'g',
      count: 4,
    });
    const monitor = await admin.monitor();
    const xacks: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'xack' && args[1] === name) xacks.push(args);
    });
    // Two reads of four; 'm-7' is yielded last and not moved past.
    expect((await collect(sub, 8)).map(readLabel)).toEqual(labels('m', 8));
    await sub.ack();
    await admin.ping();
    monitor.disconnect();
    // 'm-0'–'m-3' in one XACK before the second read, 'm-4'–'m-7' in one on ack(): two, not eight.
    expect(xacks.map((args) => args.length - 3)).toEqual([4, 4]);
    expect(await pendingCount(name, 'g')).toBe(0);
    await sub.close();
  });

  it('a closed member hands what it did not acknowledge to the next member at once', async () => {
    const name = topic();
    await send(name, labels('m', 5));
    const options = { connection: REDIS_URL, group: 'g', claimIdleMs: 60_000, count: 5 };
    const first = await RedisStreamsSubscriber.create(name, options);
    expect((await collect(first, 2)).map(readLabel)).toEqual(['m-0', 'm-1']);
    await first.close();
    const second = await RedisStreamsSubscriber.create(name, options);
    expect((await collect(second, 4)).map(readLabel)).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    await second.close();
  });

  it("start: 'now' skips entries added before the group was created; the default reads them", async () => {
    const name = topic();
    await send(name, ['old']);
    const fromNow = await RedisStreamsSubscriber.create(name, {
      connection: REDIS_URL,
      group: 'now',
      start: 'now',
    });
    const fromStart = await RedisStreamsSubscriber.create(name, {
      connection: REDIS_URL,
      group: 'start',
    });
    await send(name, ['new']);
    expect((await collect(fromNow, 1)).map(readLabel)).toEqual(['new']);
    expect((await collect(fromStart, 2)).map(readLabel)).toEqual(['old', 'new']);
    await Promise.all([fromNow.close(), fromStart.close()]);
  });

  it('maxLength trims the stream', async () => {
    const name = topic();
    await send(name, labels('t', 50), { maxLength: 10, exactTrim: true });
    expect(await admin.xlen(name)).toBe(10);
    const sub = await RedisStreamsSubscriber.create(name, { connection: REDIS_URL });
    expect((await drain(sub, 300)).map(readLabel)).toEqual(labels('t', 50).slice(40));
    await sub.close();
  });

  it('a subscriber without a group gets a private group and destroys it on close', async () => {
    const name = topic();
    const sub = await RedisStreamsSubscriber.create(name, { connection: REDIS_URL });
    expect(((await admin.call('XINFO', 'GROUPS', name)) as unknown[]).length).toBe(1);
    await sub.close();
    expect(((await admin.call('XINFO', 'GROUPS', name)) as unknown[]).length).toBe(0);
  });

  it('asking for the next message acknowledges the previous one', async () => {
    const name = topic();
    await send(name, ['a', 'b']);
    const sub = await RedisStreamsSubscriber.create(name, {
      connection: REDIS_URL,
      group: 'g',
      count: 1,
    });
    await collect(sub, 1);
    expect(await pendingCount(name, 'g')).toBe(1);
    await collect(sub, 1);
    await sub.ack();
    expect(await pendingCount(name, 'g')).toBe(0);
    await sub.close();
  });
});
