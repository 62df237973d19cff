import {
  connectionTrap,
  label,
  malformedMessagesCase,
  readLabel,
  uniqueTopic,
  waitFor,
  within,
} from '@proxystream/contract-tests';
import {
  DecodeError,
  type StoreConfig,
  StoreNotAllowedError,
  type Subscriber,
} from '@proxystream/protocols';
import {
  encodeBatch,
  SERIALIZER_MARKER,
  SERIALIZER_VERSION,
  StreamConsumer,
} from '@proxystream/stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisPubSubSubscriber,
  RedisQueueSubscriber,
  RedisStoreFactory,
  RedisStreamsSubscriber,
  STREAM_DATA_FIELD,
} from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

// Raw client: what a broken or hostile producer would use, bypassing the shims' publishers.
let raw: Redis;
beforeAll(async () => {
  raw = await adminClient();
});
afterAll(async () => {
  raw.disconnect();
  await deleteKeys('bad-input-*');
});

/** The serializer's marker and version, then a tag no version defines. */
const poisonPayload = Uint8Array.of(...SERIALIZER_MARKER, SERIALIZER_VERSION, 0xee);

const consumerOf = (subscriber: Subscriber, topic: string) =>
  new StreamConsumer(subscriber, { topics: [topic] });

// Each shim's subscriber, and how a raw client writes a message where it reads.
const rawWriters: ReadonlyArray<{
  name: string;
  subscribe: (topic: string) => Promise<Subscriber>;
  write: (topic: string, message: Buffer) => Promise<unknown>;
}> = [
  {
    name: 'Redis pub/sub',
    subscribe: (topic) => RedisPubSubSubscriber.create(topic, { connection: REDIS_URL }),
    write: (topic, message) => raw.publish(topic, message),
  },
  {
    name: 'Redis list queue',
    subscribe: (topic) => RedisQueueSubscriber.create(topic, { connection: REDIS_URL }),
    write: (topic, message) => raw.rpush(topic, message),
  },
  {
    name: 'Redis streams',
    subscribe: (topic) =>
      RedisStreamsSubscriber.create(topic, { connection: REDIS_URL, group: 'bad-input' }),
    write: (topic, message) => raw.xadd(topic, '*', STREAM_DATA_FIELD, message),
  },
];

for (const { name, subscribe, write } of rawWriters) {
  malformedMessagesCase({
    name,
    openConsumer: async (topic) => consumerOf(await subscribe(topic), topic),
    publishRaw: async (topic, message) => {
      await write(topic, Buffer.from(message));
    },
    encode: encodeBatch,
    poisonPayload,
  });
}

describe('Redis Streams entries without the data field', () => {
  it('an entry without the data field, or with other fields only, costs one DecodeError and the valid objects around it arrive in order', async () => {
    const topic = uniqueTopic('bad-input-fields');
    const consumer = consumerOf(
      await RedisStreamsSubscriber.create(topic, { connection: REDIS_URL, group: 'bad-input' }),
      topic,
    );
    try {
      const valid = (sequence: number, last = false) =>
        Buffer.from(
          encodeBatch({
            topic,
            producerId: 'bad-input-fields',
            sequence,
            events: last
              ? [{ type: 'end-of-stream' }]
              : [
                  {
                    type: 'new-object',
                    metadata: {},
                    evict: false,
                    body: { kind: 'inline', data: label(`valid-${sequence}`) },
                  },
                ],
          }),
        );
      await raw.xadd(topic, '*', STREAM_DATA_FIELD, valid(0));
      await raw.xadd(topic, '*', 'other', 'x');
      await raw.xadd(topic, '*', STREAM_DATA_FIELD, valid(1));
      await raw.xadd(topic, '*', 'foo', 'a', 'bar', valid(2));
      await raw.xadd(topic, '*', STREAM_DATA_FIELD, valid(2));
      await raw.xadd(topic, '*', STREAM_DATA_FIELD, valid(3, true));
      const seen: string[] = [];
      for (;;) {
        const item = await within(consumer.nextObject(), 10_000, `item after ${seen}`).catch(
          (error: unknown) => error,
        );
        if (item instanceof Error) {
          expect(item).toBeInstanceOf(DecodeError);
          seen.push('DecodeError');
          continue;
        }
        const result = item as IteratorResult<unknown>;
        if (result.done) break;
        seen.push(readLabel(result.value as Uint8Array));
      }
      expect(seen).toEqual(['valid-0', 'DecodeError', 'valid-1', 'DecodeError', 'valid-2']);
    } finally {
      await consumer.close();
    }
  });
});

describe('store configs from the wire', () => {
  it('RedisStoreFactory refuses a server it was not allowed with StoreNotAllowedError and opens no connection to it', async () => {
    const target = await connectionTrap();
    try {
      const config = {
        kind: 'redis',
        name: 'trap',
        host: '127.0.0.1',
        port: target.port,
        db: 0,
        prefix: 'proxystream:',
      };
      const refusing = new RedisStoreFactory({ allowedServers: ['127.0.0.1:6379'] });
      await expect(refusing.open(config)).rejects.toBeInstanceOf(StoreNotAllowedError);
      await expect(refusing.open({ ...config, host: 'localhost' })).rejects.toBeInstanceOf(
        StoreNotAllowedError,
      );
      // The control: a factory allowed to reach the trap does connect, and is the only one that did.
      const allowed = await new RedisStoreFactory({
        allowedServers: [`127.0.0.1:${target.port}`],
      }).open(config);
      expect(await waitFor(() => target.connections() > 0, 10_000)).toBe(true);
      expect(target.connections()).toBe(1);
      await allowed.close();
    } finally {
      await target.close();
    }
  });

  it('a consumer refuses batches naming a store it may not open, connects nowhere, and reads on', async () => {
    const target = await connectionTrap();
    const topic = uniqueTopic('bad-input-store');
    const consumer = new StreamConsumer(
      await RedisQueueSubscriber.create(topic, { connection: REDIS_URL }),
      {
        topics: [topic],
        stores: [new RedisStoreFactory({ allowedServers: ['127.0.0.1:6379'] })],
      },
    );
    try {
      const stored = (sequence: number, store: StoreConfig) =>
        encodeBatch({
          topic,
          producerId: 'rogue',
          sequence,
          store,
          events: [
            {
              type: 'new-object',
              metadata: {},
              evict: true,
              body: { kind: 'stored', key: '00000000-0000-4000-8000-000000000000' },
            },
          ],
        });
      const redisTrap = {
        kind: 'redis',
        name: 'trap',
        host: '127.0.0.1',
        port: target.port,
        db: 0,
        prefix: 'proxystream:',
      };
      await raw.rpush(topic, Buffer.from(stored(0, redisTrap)));
      await raw.rpush(
        topic,
        Buffer.from(stored(1, { kind: 'file', name: 'etc', directory: '/etc' })),
      );
      await raw.rpush(
        topic,
        Buffer.from(
          encodeBatch({
            topic,
            producerId: 'rogue',
            sequence: 2,
            events: [
              {
                type: 'new-object',
                metadata: {},
                evict: false,
                body: { kind: 'inline', data: label('after') },
              },
              { type: 'end-of-stream' },
            ],
          }),
        ),
      );
      for (let i = 0; i < 2; i++) {
        const error = await within(consumer.next(), 10_000, 'refused batch').catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(StoreNotAllowedError);
      }
      const after = await within(consumer.nextObject(), 10_000, 'the inline event');
      expect(readLabel(after.value as Uint8Array)).toBe('after');
      expect(await within(consumer.next(), 10_000, 'end')).toEqual({
        done: true,
        value: undefined,
      });
      expect(target.connections()).toBe(0);
    } finally {
      await consumer.close();
      await target.close();
    }
  });
});
