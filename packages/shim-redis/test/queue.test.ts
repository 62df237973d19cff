import { collect, label, readLabel, uniqueTopic, within } from '@proxystream/contract-tests';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber } from '../src/index.js';
import { pendingRegistryKey } from '../src/queue-subscriber.js';
import { adminClient, deleteKeys, eventually, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('queue-test-*');
});

const topic = () => uniqueTopic('queue-test');

describe('redis list queue', () => {
  it('closing a subscriber blocked in a pop returns promptly and takes nothing sent afterwards', async () => {
    const name = topic();
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    const pending = sub.next();
    const blocked = async () => ((await admin.client('LIST')) as string).includes('cmd=blmove');
    expect(await eventually(blocked, 5_000)).toBe(true);
    const started = performance.now();
    await within(sub.close(), 1_000, 'close while blocked');
    const elapsed = performance.now() - started;
    await expect(pending).resolves.toMatchObject({ done: true });
    expect(elapsed).toBeLessThan(500);
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    await pub.send(name, label('kept'));
    await pub.close();
    expect(await admin.llen(name)).toBe(1);
  });

  it('a message held by a closed subscriber goes back to the head of the queue', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c']) await pub.send(name, label(item));
    const first = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    expect((await collect(first, 1)).map(readLabel)).toEqual(['a']);
    expect(await admin.llen(first.pendingKey)).toBe(1);
    await first.close();
    expect(await admin.exists(first.pendingKey)).toBe(0);
    const second = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    expect((await collect(second, 3)).map(readLabel)).toEqual(['a', 'b', 'c']);
    await Promise.all([pub.close(), second.close()]);
  });

  it('ack() and asking for the next message remove the message from the pending list', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b']) await pub.send(name, label(item));
    const sub = await RedisQueueSubscriber.create(name, {
      connection: REDIS_URL,
      group: 'ignored',
    });
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['a']);
    await sub.ack();
    expect(await admin.llen(sub.pendingKey)).toBe(0);
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['b']);
    expect(await admin.lrange(sub.pendingKey, 0, -1)).toEqual(['b']);
    await sub.ack();
    await sub.close();
    expect(await admin.llen(name)).toBe(0);
    await pub.close();
  });

  it("a subscriber that died without closing has its pending message handed back by the next one, and leaves the topic's registry", async () => {
    const name = topic();
    const registry = pendingRegistryKey(name);
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b']) await pub.send(name, label(item));
    const crashed = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    expect((await collect(crashed, 1)).map(readLabel)).toEqual(['a']);
    const owner = await admin.hget(registry, crashed.pendingKey);
    expect(owner).toMatch(/^proxystream-queue:/);
    expect(((await admin.client('LIST')) as string).includes(` name=${owner} `)).toBe(true);
    // A crash: the connection goes without close(), so 'a' stays in the pending list.
    (crashed as unknown as { client: Redis }).client.disconnect();
    expect(
      await eventually(
        async () => !((await admin.client('LIST')) as string).includes(` name=${owner} `),
        5_000,
      ),
    ).toBe(true);
    expect(await admin.lrange(crashed.pendingKey, 0, -1)).toEqual(['a']);

    const next = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    expect(await admin.exists(crashed.pendingKey)).toBe(0);
    expect(await admin.hkeys(registry)).toEqual([next.pendingKey]);
    expect((await collect(next, 2)).map(readLabel)).toEqual(['a', 'b']);
    await next.close();
    expect(await admin.exists(registry)).toBe(0);
    expect(await admin.exists(next.pendingKey)).toBe(0);
    await Promise.all([pub.close(), crashed.close().catch(() => undefined)]);
  });

  it('a subscriber enters its pending list in the registry while open and leaves it on close', async () => {
    const name = topic();
    const registry = pendingRegistryKey(name);
    const [one, two] = await Promise.all([
      RedisQueueSubscriber.create(name, { connection: REDIS_URL }),
      RedisQueueSubscriber.create(name, { connection: REDIS_URL }),
    ]);
    expect((await admin.hkeys(registry)).sort()).toEqual([one.pendingKey, two.pendingKey].sort());
    await one.close();
    expect(await admin.hkeys(registry)).toEqual([two.pendingKey]);
    await two.close();
    expect(await admin.exists(registry)).toBe(0);
  });

  it('an idle subscriber does not take messages it was not asked for', async () => {
    const name = topic();
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    await pub.send(name, label('x'));
    expect(await admin.llen(name)).toBe(1);
    await Promise.all([pub.close(), sub.close()]);
  });
});

describe('redis list queue: a read whose reply a lost connection cut', () => {
  /**
   * A subscriber of a fresh queue of 'held', 'stranded', 'later' that yielded 'held' (not
   * acknowledged), then a move whose reply never came: 'stranded' sits in its pending list,
   * unknown to it. `owner` matches its connection in CLIENT LIST.
   */
  async function withStranded(): Promise<{
    name: string;
    sub: RedisQueueSubscriber;
    owner: string;
  }> {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['held', 'stranded', 'later']) await pub.send(name, label(item));
    await pub.close();
    const sub = await RedisQueueSubscriber.create(name, { connection: REDIS_URL });
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['held']);
    await admin.lmove(name, sub.pendingKey, 'LEFT', 'RIGHT');
    const owner = `name=proxystream-queue:${sub.pendingKey.split(':pending:')[1]}`;
    return { name, sub, owner };
  }

  /** The stranded message, then the rest of the queue ('held' not again); nothing left once acknowledged. */
  async function expectStrandedOnce(name: string, sub: RedisQueueSubscriber): Promise<void> {
    expect((await collect(sub, 2)).map(readLabel)).toEqual(['stranded', 'later']);
    await sub.ack();
    expect(await eventually(async () => (await admin.llen(sub.pendingKey)) === 0, 5_000)).toBe(
      true,
    );
    expect(await admin.llen(name)).toBe(0);
  }

  it('delivers the message stranded in its pending list after the reconnect, once, and acknowledges it', async () => {
    const { name, sub, owner } = await withStranded();
    try {
      const connection = async () =>
        ((await admin.client('LIST')) as string).split('\n').find((line) => line.includes(owner));
      const before = await connection();
      expect(before).toBeDefined();
      await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(before!)![1]!);
      // The subscriber reconnects by itself (a new connection id under the same name).
      expect(
        await eventually(async () => {
          const now = await connection();
          return now !== undefined && now !== before;
        }, 5_000),
      ).toBe(true);
      await expectStrandedOnce(name, sub);
    } finally {
      await sub.close();
    }
  });

  it('an acknowledgement made while the connection is down removes the acknowledged message, not the stranded one', async () => {
    const { name, sub, owner } = await withStranded();
    const client = (sub as unknown as { client: Redis }).client;
    try {
      const line = ((await admin.client('LIST')) as string)
        .split('\n')
        .find((entry) => entry.includes(owner));
      await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]!);
      // Moving past 'held' while the client waits to reconnect: its acknowledgement waits in the
      // client's queue and runs after the reconnect, when 'stranded' stands beside it. Made as an
      // acknowledgement of the list's end, it removed 'stranded' (lost for good).
      expect(await eventually(async () => client.status !== 'ready', 5_000)).toBe(true);
      await expectStrandedOnce(name, sub);
    } finally {
      await sub.close();
    }
  });
});
