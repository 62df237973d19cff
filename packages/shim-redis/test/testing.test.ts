import {
  closeAfterEach,
  collect,
  label,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import { brokerAddress } from '@proxystream/protocols/kit';
import * as shim from '@proxystream/shim-redis';
import {
  descriptors,
  QUEUE_TAKE_SCRIPT,
  redisListDescriptor,
  redisPubSubDescriptor,
  redisStoreDescriptor,
  redisStreamsDescriptor,
} from '@proxystream/shim-redis/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(() => admin.disconnect());

const { track } = closeAfterEach();
const env = { REDIS_URL };

/** Keys of `topic`: the list or stream itself and everything in its hash slot. */
async function keysOf(topic: string): Promise<string[]> {
  const slot = await admin.keys(`{${topic}}*`);
  return (await admin.exists(topic)) === 1 ? [topic, ...slot] : slot;
}

describe('the Redis descriptors', () => {
  it('are the three shims, by the names the bench and the soak runner use', () => {
    expect(descriptors.map((descriptor) => descriptor.name)).toEqual([
      'redis-pubsub',
      'redis-list',
      'redis-streams',
    ]);
    expect(descriptors).toEqual([
      redisPubSubDescriptor,
      redisListDescriptor,
      redisStreamsDescriptor,
    ]);
  });

  it('state the capabilities once: each is the very object the package exports', () => {
    expect(redisPubSubDescriptor.capabilities).toBe(shim.redisPubSubCapabilities);
    expect(redisListDescriptor.capabilities).toBe(shim.redisQueueCapabilities);
    expect(redisStreamsDescriptor.capabilities).toBe(shim.redisStreamsCapabilities);
  });

  it('read the server from REDIS_URL, with the local default', () => {
    for (const descriptor of descriptors) {
      expect(descriptor.broker?.name).toBe('redis');
      expect(brokerAddress(descriptor.broker!, {})).toBe('redis://127.0.0.1:6379');
      expect(brokerAddress(descriptor.broker!, { REDIS_URL: 'redis://x:1' })).toBe('redis://x:1');
    }
  });

  it('hand the bench the list shim’s own read script', () => {
    expect(QUEUE_TAKE_SCRIPT).toContain("redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')");
  });

  for (const descriptor of descriptors) {
    describe(descriptor.name, () => {
      it('makes a publisher and a subscriber that carry a message, and raw bytes reach the subscriber', async () => {
        const topic = uniqueTopic(`descriptor-${descriptor.name}`);
        await descriptor.prepare?.(env);
        const subscriber = track(
          await descriptor.subscriber(env, topic, { group: 'descriptor', fastRedelivery: true }),
        );
        const publisher = track(await descriptor.publisher(env));
        await publisher.send(topic, label('through the shim'));
        // The pub/sub publisher resolves once a message is in its window, not on the wire: read
        // it before the raw client (another connection) publishes, so the order is the test's.
        const first = await collect(subscriber, 1);
        await descriptor.publishRaw(env, topic, label('raw bytes'));
        const received = [...first, ...(await collect(subscriber, 1))];
        expect(received.map(readLabel)).toEqual(['through the shim', 'raw bytes']);
        await publisher.close();
        await subscriber.close();
        await descriptor.cleanup?.(env, topic);
        expect(await keysOf(topic)).toEqual([]);
      });

      it('refuses its invalid topics', async () => {
        const publisher = track(await descriptor.publisher(env));
        for (const topic of descriptor.invalidTopics) {
          await expect(publisher.send(topic, label('x'))).rejects.toMatchObject({
            code: 'INVALID_TOPIC',
          });
        }
      });
    });
  }

  it('the list descriptor carries the store: a store it makes reopens through its factory', async () => {
    expect(redisListDescriptor.store).toBe(redisStoreDescriptor);
    const store = track(await redisStoreDescriptor.create(env));
    const key = await store.put(label('stored'));
    const reopened = track(await redisStoreDescriptor.factory(env).open(store.config()));
    expect(readLabel((await reopened.get(key))!)).toBe('stored');
    await reopened.evict(key);
    expect(await store.exists(key)).toBe(false);
  });
});
