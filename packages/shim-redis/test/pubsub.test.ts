import { randomBytes } from 'node:crypto';
import {
  collect,
  label,
  readLabel,
  uniqueTopic,
  waitFor,
  within,
} from '@proxystream/contract-tests';
import { InvalidArgumentError, MessagesLostError } from '@proxystream/protocols';
import { StreamConsumer, StreamProducer } from '@proxystream/stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPubSubPublisher, RedisPubSubSubscriber } from '../src/index.js';
import { adminClient, clientIdByName, eventually, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(() => admin.disconnect());

/** Subscribers of `topic` that Redis counts. */
const numsub = async (topic: string): Promise<number> =>
  ((await admin.call('PUBSUB', 'NUMSUB', topic)) as [string, number])[1];

/** Kills the pub/sub connection named `name`, and only it. */
async function killPubSub(name: string): Promise<void> {
  const id = await clientIdByName(admin, name);
  expect(id).toBeDefined();
  await admin.call('CLIENT', 'KILL', 'ID', id!, 'TYPE', 'pubsub');
}

describe('redis pub/sub flow control', () => {
  it('20 000 messages of 64 KiB from an awaiting sender all arrive, in order, with no loss reported', async () => {
    const topic = uniqueTopic('pubsub-flow');
    const losses: MessagesLostError[] = [];
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: REDIS_URL,
      onLoss: (e) => losses.push(e),
    });
    const pub = await RedisPubSubPublisher.create({ connection: REDIS_URL });
    const count = 20_000;
    const chunk = new Uint8Array(64 * 1024);
    let received = 0;
    let inOrder = true;
    const reading = (async () => {
      for await (const message of sub) {
        const index = new DataView(message.buffer, message.byteOffset, 4).getUint32(0);
        if (index !== received || message.byteLength !== chunk.byteLength) inOrder = false;
        if (++received === count) break;
      }
    })();
    const started = performance.now();
    const view = new DataView(chunk.buffer);
    for (let i = 0; i < count; i++) {
      view.setUint32(0, i);
      await pub.send(topic, chunk);
    }
    await pub.close();
    await within(reading, 20_000, 'receiving 20 000 messages').catch((error: unknown) => {
      throw new Error(
        `received ${received} of ${count}, dropped ${sub.droppedMessages}, connection losses ${sub.connectionLosses}, sent in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        { cause: error },
      );
    });
    const seconds = (performance.now() - started) / 1000;
    console.info(
      `pub/sub flow control: ${count} × 64 KiB in ${seconds.toFixed(2)} s = ${((count * chunk.byteLength) / 2 ** 20 / seconds).toFixed(0)} MiB/s, ${(count / seconds).toFixed(0)} msg/s`,
    );
    expect(received).toBe(count);
    expect(inOrder).toBe(true);
    expect(losses).toEqual([]);
    expect(sub.droppedMessages).toBe(0);
    expect(sub.connectionLosses).toBe(0);
  });

  it('a subscriber that does not read drops newer messages; next() rejects with MessagesLostError after the kept ones, then goes on', async () => {
    const topic = uniqueTopic('pubsub-slow');
    const losses: MessagesLostError[] = [];
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: REDIS_URL,
      maxBufferedMessages: 10,
      onLoss: (e) => losses.push(e),
    });
    const pub = await RedisPubSubPublisher.create({ connection: REDIS_URL });
    for (let i = 0; i < 50; i++) await pub.send(topic, label(`m-${i}`));
    expect(await waitFor(() => sub.droppedMessages === 40, 5_000)).toBe(true);
    expect(losses).toHaveLength(1);
    expect(losses[0]).toBeInstanceOf(MessagesLostError);
    expect((await collect(sub, 10)).map(readLabel)).toEqual(
      Array.from({ length: 10 }, (_, i) => `m-${i}`),
    );
    // The loss waits in the stream behind the kept messages, with its count.
    const error = await within(sub.next(), 5_000, 'next() after the kept messages').catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MessagesLostError);
    expect((error as MessagesLostError).code).toBe('MESSAGES_LOST');
    expect((error as Error).message).toMatch(/^40 message\(s\) of ".+" dropped/);
    // Reading again ends the run of drops: the next message is kept, and no second error.
    await pub.send(topic, label('later'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['later']);
    await Promise.all([pub.close(), sub.close()]);
  });

  it('two runs of drops with messages between them are two errors, each where it happened', async () => {
    const topic = uniqueTopic('pubsub-slow-twice');
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: REDIS_URL,
      maxBufferedMessages: 2,
    });
    const pub = await RedisPubSubPublisher.create({ connection: REDIS_URL });
    for (let i = 0; i < 5; i++) await pub.send(topic, label(`a-${i}`));
    expect(await waitFor(() => sub.droppedMessages === 3, 5_000)).toBe(true);
    const outcomes: string[] = [];
    const step = async () => {
      const outcome = await within(sub.next(), 5_000, 'next()').catch((error: unknown) => error);
      outcomes.push(
        outcome instanceof MessagesLostError
          ? `lost: ${outcome.message.split(' ')[0]}`
          : readLabel((outcome as IteratorResult<Uint8Array>).value as Uint8Array),
      );
    };
    await step(); // a-0: one slot free, the next arrives behind the marker
    await pub.send(topic, label('b-0'));
    for (let i = 1; i < 4; i++) await pub.send(topic, label(`b-${i}`));
    expect(await waitFor(() => sub.droppedMessages === 6, 5_000)).toBe(true);
    for (let i = 0; i < 4; i++) await step();
    expect(outcomes).toEqual(['a-0', 'a-1', 'lost: 3', 'b-0', 'lost: 3']);
    await Promise.all([pub.close(), sub.close()]);
  });
});

describe('redis pub/sub reconnect', () => {
  it('after CLIENT KILL next() rejects once with MessagesLostError, then the resubscribed subscriber receives again', async () => {
    const topic = uniqueTopic('pubsub-kill');
    const name = `kill-${randomBytes(4).toString('hex')}`;
    const losses: MessagesLostError[] = [];
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: {
        host: new URL(REDIS_URL).hostname,
        port: Number(new URL(REDIS_URL).port || 6379),
        connectionName: name,
      },
      onLoss: (e) => losses.push(e),
    });
    const pub = await RedisPubSubPublisher.create({ connection: REDIS_URL });
    await pub.send(topic, label('before'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['before']);
    const id = await clientIdByName(admin, name);
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    expect(await waitFor(() => losses.length === 1, 5_000)).toBe(true);
    expect(losses[0]).toBeInstanceOf(MessagesLostError);
    expect(sub.connectionLosses).toBe(1);
    // Resubscribed: a new connection with the same name is subscribed to the channel again.
    expect(await eventually(async () => (await numsub(topic)) === 1, 5_000)).toBe(true);
    await pub.send(topic, label('after'));
    await expect(within(sub.next(), 5_000, 'next() after the kill')).rejects.toBeInstanceOf(
      MessagesLostError,
    );
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['after']);
    await Promise.all([pub.close(), sub.close()]);
  });

  it('an end of stream published while the subscriber is disconnected makes the StreamConsumer’s next() reject with MessagesLostError instead of hanging', async () => {
    const topic = uniqueTopic('pubsub-lost-end');
    const name = `lost-end-${randomBytes(4).toString('hex')}`;
    const url = new URL(REDIS_URL);
    const subscriber = await RedisPubSubSubscriber.create(topic, {
      // A slow reconnect: the end of stream is surely published while nobody is subscribed.
      connection: {
        host: url.hostname,
        port: Number(url.port || 6379),
        connectionName: name,
        retryStrategy: () => 1_000,
      },
    });
    const consumer = new StreamConsumer<number>(subscriber, { topics: [topic] });
    const producer = new StreamProducer<number>(
      await RedisPubSubPublisher.create({ connection: REDIS_URL }),
    );
    try {
      for (let i = 0; i < 3; i++) await producer.send(topic, i);
      await producer.flush();
      for (let i = 0; i < 3; i++) {
        expect(await within(consumer.nextObject(), 5_000, `object ${i}`)).toEqual({
          done: false,
          value: i,
        });
      }
      // Nobody is reading when the connection breaks and the end of stream goes out.
      const id = await clientIdByName(admin, name);
      expect(id).toBeDefined();
      await admin.client('KILL', 'ID', id!);
      expect(await eventually(async () => (await numsub(topic)) === 0, 5_000)).toBe(true);
      await producer.close({ topics: [topic] });
      const outcome = await within(consumer.next(), 5_000, 'next() after the lost end').catch(
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(MessagesLostError);
      expect((outcome as MessagesLostError).code).toBe('MESSAGES_LOST');
      expect(subscriber.connectionLosses).toBe(1);
    } finally {
      await consumer.close();
      await producer.close().catch(() => undefined);
    }
  });

  it('CLIENT KILL TYPE pubsub while nobody reads: a pending and a later next() each see the loss once', async () => {
    // Kills only this test's subscriber: CLIENT KILL with both ID and TYPE pubsub.
    const topic = uniqueTopic('pubsub-kill-type');
    const name = `kill-type-${randomBytes(4).toString('hex')}`;
    const url = new URL(REDIS_URL);
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: { host: url.hostname, port: Number(url.port || 6379), connectionName: name },
    });
    const pub = await RedisPubSubPublisher.create({ connection: REDIS_URL });
    try {
      const pending = sub.next().catch((error: unknown) => error);
      await killPubSub(name);
      expect(await within(pending, 5_000, 'pending next()')).toBeInstanceOf(MessagesLostError);
      expect(await eventually(async () => (await numsub(topic)) === 1, 5_000)).toBe(true);
      await killPubSub(name);
      expect(await waitFor(() => sub.connectionLosses === 2, 5_000)).toBe(true);
      expect(await eventually(async () => (await numsub(topic)) === 1, 5_000)).toBe(true);
      await pub.send(topic, label('after'));
      await expect(within(sub.next(), 5_000, 'later next()')).rejects.toBeInstanceOf(
        MessagesLostError,
      );
      expect((await collect(sub, 1)).map(readLabel)).toEqual(['after']);
    } finally {
      await Promise.all([pub.close(), sub.close()]);
    }
  });
});

describe('redis pub/sub options', () => {
  it('refuses a group: pub/sub has no competing consumers', async () => {
    await expect(
      RedisPubSubSubscriber.create(uniqueTopic('pubsub-group'), {
        connection: REDIS_URL,
        group: 'g',
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('uses a caller’s client without closing it, and subscribes on a duplicate', async () => {
    const client = new Redis(REDIS_URL);
    const topic = uniqueTopic('pubsub-caller');
    const sub = await RedisPubSubSubscriber.create(topic, { connection: client });
    const pub = await RedisPubSubPublisher.create({ connection: client });
    await pub.send(topic, label('mine'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['mine']);
    await Promise.all([pub.close(), sub.close()]);
    expect(client.status).toBe('ready');
    expect(client.mode).toBe('normal');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });
});
