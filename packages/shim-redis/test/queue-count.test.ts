import { setTimeout as pause } from 'node:timers/promises';
import { collect, label, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import { InvalidArgumentError } from '@proxystream/protocols';
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
  await deleteKeys('queue-count-test-*');
});

const topic = () => uniqueTopic('queue-count-test');

describe('redis list queue with count > 1', () => {
  it('moves up to count messages per read into the pending list, in order', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c', 'd', 'e', 'f']) await pub.send(name, label(item));
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL, count: 4 });
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['a']);
    expect(
      (await admin.lrange(sub.pendingKey, 0, -1)).map((m) => readLabel(Buffer.from(m))),
    ).toEqual(['a', 'b', 'c', 'd']);
    expect(await admin.llen(name)).toBe(2);
    expect((await collect(sub, 5)).map(readLabel)).toEqual(['b', 'c', 'd', 'e', 'f']);
    await sub.ack();
    expect(await admin.llen(sub.pendingKey)).toBe(0);
    await Promise.all([pub.close(), sub.close()]);
  });

  it('a closed subscriber hands back every message it took and did not acknowledge, in order', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const item of items) await pub.send(name, label(item));
    const first = await RedisQueueSubscriber.create(name, { connection: REDIS_URL, count: 5 });
    // 'a' and 'b' are acknowledged by asking for 'c'; 'c' (yielded) and 'd', 'e' (taken) are not.
    expect((await collect(first, 3)).map(readLabel)).toEqual(['a', 'b', 'c']);
    await first.close();
    expect(await admin.exists(first.pendingKey)).toBe(0);
    const second = await RedisQueueSubscriber.create(name, { connection: REDIS_URL, count: 5 });
    expect((await collect(second, 5)).map(readLabel)).toEqual(['c', 'd', 'e', 'f', 'g']);
    await second.ack();
    await Promise.all([pub.close(), second.close()]);
    expect(await admin.llen(name)).toBe(0);
  });

  it('acknowledges the messages a fast reader moves past in one command per read', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) await pub.send(name, label(item));
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL, count: 4 });
    // Every command naming the pending list: the reads (EVAL of the take script, BLMOVE) and the
    // acknowledgements (EVAL of the ack script, which also names the ack mark `<pending>:acked`).
    const monitor = await admin.monitor();
    const acks: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      // The commands the script runs are listed too (GET, SET, RPOP): count the EVALs.
      if (args[0]?.toLowerCase() === 'eval' && args.includes(`${sub.pendingKey}:acked`))
        acks.push(args);
    });
    // Two reads of four; 'h' is yielded last and not moved past.
    expect((await collect(sub, 8)).map(readLabel)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
      'g',
      'h',
    ]);
    await sub.ack();
    await admin.ping();
    monitor.disconnect();
    // 'a'–'d' went in one command before the second read, 'e'–'h' in one on ack(): two, not eight.
    expect(acks).toHaveLength(2);
    expect(await admin.llen(sub.pendingKey)).toBe(0);
    await Promise.all([pub.close(), sub.close()]);
  });

  it('acknowledges a message moved past within milliseconds while the rest of its read is buffered', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c', 'd']) await pub.send(name, label(item));
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL, count: 4 });
    // Asking for 'b' moves past 'a'; 'c' and 'd' stay buffered, so no read follows that would
    // carry the acknowledgement.
    expect((await collect(sub, 2)).map(readLabel)).toEqual(['a', 'b']);
    const pending = async () =>
      (await admin.lrange(sub.pendingKey, 0, -1)).map((m) => readLabel(Buffer.from(m)));
    const deadline = Date.now() + 1_000;
    while ((await pending()).includes('a') && Date.now() < deadline) await pause(5);
    expect(await pending()).toEqual(['b', 'c', 'd']);
    // A crash now would deliver 'b', 'c' and 'd' again, not 'a'.
    await sub.close();
    expect((await admin.lrange(name, 0, -1)).map((m) => readLabel(Buffer.from(m)))).toEqual([
      'b',
      'c',
      'd',
    ]);
    await pub.close();
  });

  it('refuses a count that is not a positive integer', async () => {
    await expect(
      RedisQueueSubscriber.create(topic(), { connection: REDIS_URL, count: 0 }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
