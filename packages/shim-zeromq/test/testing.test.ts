import { MessagesLostError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { zmqPubSubDescriptor } from '../src/testing.js';

const topicOf = (name: string) =>
  `testing-${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;

describe('the PUB/SUB descriptor', () => {
  it('gives the subscriber the read-ahead it is asked for (maxBuffered)', async () => {
    const topic = topicOf('max-buffered');
    const subscriber = await zmqPubSubDescriptor.subscriber(process.env, topic, {
      maxBuffered: { messages: 3 },
    });
    const reader = subscriber[Symbol.asyncIterator]();
    const publisher = await zmqPubSubDescriptor.publisher(process.env);
    try {
      for (let i = 0; i < 10; i++) await publisher.send(topic, Uint8Array.of(i));
      // Nothing is read meanwhile: the subscriber holds 3 and drops the other 7.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const kept: number[] = [];
      for (let i = 0; i < 3; i++) {
        const step = await reader.next();
        kept.push((step.value as Uint8Array)[0] as number);
      }
      expect(kept).toEqual([0, 1, 2]);
      await expect(reader.next()).rejects.toBeInstanceOf(MessagesLostError);
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  });

  it('holds more than the default read-ahead of 1024 when asked to', async () => {
    const topic = topicOf('max-buffered-large');
    const subscriber = await zmqPubSubDescriptor.subscriber(process.env, topic, {
      maxBuffered: { messages: 4_000 },
    });
    const reader = subscriber[Symbol.asyncIterator]();
    const publisher = await zmqPubSubDescriptor.publisher(process.env);
    try {
      for (let i = 0; i < 3_000; i++) await publisher.send(topic, Uint8Array.of(i & 0xff));
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 0; i < 3_000; i++) {
        const step = await reader.next();
        expect((step.value as Uint8Array)[0]).toBe(i & 0xff);
      }
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  });
});
