import { collect, label, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import type { ShimDescriptor } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';
import { JETSTREAM_CAPABILITIES, NATS_CORE_CAPABILITIES } from '../src/index.js';
import {
  descriptors,
  jetStreamDescriptor,
  natsDescriptor,
  natsObjectStoreDescriptor,
} from '../src/testing.js';

const env = process.env;

describe('the NATS descriptors', () => {
  it('list core NATS and JetStream, with the capability objects the package exports', () => {
    expect(descriptors).toEqual([natsDescriptor, jetStreamDescriptor]);
    expect(descriptors.map((descriptor) => descriptor.name)).toEqual(['nats', 'jetstream']);
    expect(natsDescriptor.capabilities).toBe(NATS_CORE_CAPABILITIES);
    expect(jetStreamDescriptor.capabilities).toBe(JETSTREAM_CAPABILITIES);
    expect(jetStreamDescriptor.store).toBe(natsObjectStoreDescriptor);
    for (const descriptor of descriptors) {
      expect(descriptor.broker).toMatchObject({ name: 'nats', variable: 'NATS_URL' });
      expect(descriptor.packageName).toBe('@proxystream/shim-nats');
    }
  });

  for (const descriptor of descriptors as readonly ShimDescriptor[]) {
    describe(descriptor.name, () => {
      it('makes a publisher and a subscriber that carry a message, and publishRaw reaches the subscriber', async () => {
        await descriptor.prepare?.(env);
        const topic = uniqueTopic(`descriptor-${descriptor.name}`);
        const subscriber = await descriptor.subscriber(env, topic);
        const publisher = await descriptor.publisher(env);
        try {
          await publisher.send(topic, label('sent'));
          expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['sent']);
          await descriptor.publishRaw(env, topic, label('raw'));
          expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['raw']);
        } finally {
          await publisher.close();
          await subscriber.close();
          await descriptor.cleanup?.(env, topic);
        }
      });

      it('makes group members and fast-redelivery subscribers', async () => {
        const topic = uniqueTopic(`descriptor-${descriptor.name}`);
        const subscriber = await descriptor.subscriber(env, topic, {
          group: 'descriptor',
          fastRedelivery: true,
        });
        const publisher = await descriptor.publisher(env);
        try {
          await publisher.send(topic, label('grouped'));
          expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['grouped']);
        } finally {
          await publisher.close();
          await subscriber.close();
          await descriptor.cleanup?.(env, topic);
        }
      });
    });
  }

  it('cleanup removes what a JetStream topic left: its messages and its groups', async () => {
    const topic = uniqueTopic('descriptor-cleanup');
    const publisher = await jetStreamDescriptor.publisher(env);
    const member = await jetStreamDescriptor.subscriber(env, topic, { group: 'cleanup' });
    await publisher.send(topic, label('left'));
    expect((await collect(member, 1)).map(readLabel)).toEqual(['left']);
    await member.close();
    await jetStreamDescriptor.cleanup?.(env, topic);
    // A new subscriber from the beginning finds nothing left of the topic.
    const reader = await jetStreamDescriptor.subscriber(env, topic);
    try {
      await publisher.send(topic, label('after'));
      expect((await collect(reader, 1)).map(readLabel)).toEqual(['after']);
    } finally {
      await reader.close();
      await publisher.close();
      await jetStreamDescriptor.cleanup?.(env, topic);
    }
  });

  it('the object store opens on the broker, and its factory reopens it from its config', async () => {
    const store = await natsObjectStoreDescriptor.create(env);
    try {
      const key = await store.put(label('stored'));
      const reopened = await natsObjectStoreDescriptor.factory(env).open(store.config());
      try {
        expect(readLabel((await reopened.get(key))!)).toBe('stored');
      } finally {
        await reopened.close();
      }
      await store.evict(key);
    } finally {
      await store.close();
    }
  });
});
