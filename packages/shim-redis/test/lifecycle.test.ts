import { randomBytes } from 'node:crypto';
import { label, uniqueTopic } from '@proxystream/contract-tests';
import { AbortedError, InvalidArgumentError } from '@proxystream/protocols';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStore,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';
import { adminClient, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(() => admin.disconnect());

const url = new URL(REDIS_URL);
/** Connection options with a name of their own, to find the connection in CLIENT LIST. */
const named = (name: string) => ({
  host: url.hostname,
  port: Number(url.port || 6379),
  connectionName: name,
});
const connectionsNamed = async (name: string): Promise<number> =>
  ((await admin.client('LIST')) as string)
    .split('\n')
    .filter((line) => line.includes(` name=${name} `)).length;

const aborted = AbortSignal.abort();

const creates: ReadonlyArray<
  readonly [string, (connection: ReturnType<typeof named>) => Promise<unknown>]
> = [
  [
    'RedisPubSubPublisher',
    (connection) => RedisPubSubPublisher.create({ connection, signal: aborted }),
  ],
  [
    'RedisQueuePublisher',
    (connection) => RedisQueuePublisher.create({ connection, signal: aborted }),
  ],
  [
    'RedisStreamsPublisher',
    (connection) => RedisStreamsPublisher.create({ connection, signal: aborted }),
  ],
  ['RedisStore', (connection) => RedisStore.create({ connection, signal: aborted })],
  [
    'RedisPubSubSubscriber',
    (connection) =>
      RedisPubSubSubscriber.create(uniqueTopic('aborted'), { connection, signal: aborted }),
  ],
  [
    'RedisQueueSubscriber',
    (connection) =>
      RedisQueueSubscriber.create(uniqueTopic('aborted'), { connection, signal: aborted }),
  ],
  [
    'RedisStreamsSubscriber',
    (connection) =>
      RedisStreamsSubscriber.create(uniqueTopic('aborted'), { connection, signal: aborted }),
  ],
];

describe('creating with a signal that is already aborted', () => {
  it.each(creates)(
    '%s.create rejects with AbortedError and opens no connection',
    async (_name, create) => {
      const name = `aborted-${randomBytes(4).toString('hex')}`;
      await expect(create(named(name))).rejects.toBeInstanceOf(AbortedError);
      // A connection opened by mistake would show up in CLIENT LIST within a few ms.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await connectionsNamed(name)).toBe(0);
    },
  );
});

describe('a signal aborted while a subscriber starts', () => {
  it.each([
    ['RedisPubSubSubscriber', RedisPubSubSubscriber.create.bind(RedisPubSubSubscriber)],
    ['RedisQueueSubscriber', RedisQueueSubscriber.create.bind(RedisQueueSubscriber)],
    ['RedisStreamsSubscriber', RedisStreamsSubscriber.create.bind(RedisStreamsSubscriber)],
  ] as const)(
    '%s.create rejects with AbortedError and closes what it opened',
    async (_name, create) => {
      const name = `aborting-${randomBytes(4).toString('hex')}`;
      const controller = new AbortController();
      const creating = create(uniqueTopic('aborting'), {
        connection: named(name),
        signal: controller.signal,
      });
      controller.abort();
      await expect(creating).rejects.toBeInstanceOf(AbortedError);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await connectionsNamed(name)).toBe(0);
    },
  );
});

describe('await using', () => {
  it('closes publishers, subscribers and the store at the end of the scope', async () => {
    const topic = uniqueTopic('dispose');
    const name = `dispose-${randomBytes(4).toString('hex')}`;
    let closedSubscriber: RedisQueueSubscriber;
    {
      await using publisher = await RedisQueuePublisher.create({ connection: named(name) });
      await using subscriber = await RedisQueueSubscriber.create(topic, {
        connection: named(name),
      });
      await using store = await RedisStore.create({ connection: named(name) });
      closedSubscriber = subscriber;
      await publisher.send(topic, label('x'));
      await store.exists('00000000-0000-4000-8000-000000000000');
      // The publisher's and the store's (the queue subscriber names its connection itself).
      expect(await connectionsNamed(name)).toBe(2);
    }
    expect(closedSubscriber.closed).toBe(true);
    expect(await closedSubscriber.next()).toEqual({ done: true, value: undefined });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await connectionsNamed(name)).toBe(0);
    await admin.unlink(topic);
  });
});

describe('option checks', () => {
  it.each([
    ['maxInFlightMessages 0', () => RedisQueuePublisher.create({ maxInFlightMessages: 0 })],
    ['maxInFlightBytes 1.5', () => RedisPubSubPublisher.create({ maxInFlightBytes: 1.5 })],
    ['maxLength -1', () => RedisStreamsPublisher.create({ maxLength: -1 })],
    ['ttlMs 0.5', () => RedisStore.create({ ttlMs: 0.5 })],
    ['blockMs 0', () => RedisQueueSubscriber.create('t', { blockMs: 0 })],
    ['count 0', () => RedisStreamsSubscriber.create('t', { count: 0 })],
    ['start "middle"', () => RedisStreamsSubscriber.create('t', { start: 'middle' as 'now' })],
    ['maxBufferedMessages 0', () => RedisPubSubSubscriber.create('t', { maxBufferedMessages: 0 })],
  ] as const)('%s is refused with InvalidArgumentError naming the option', async (what, create) => {
    const error = await create().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(what.split(' ')[0]);
  });
});
