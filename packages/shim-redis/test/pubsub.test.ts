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
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPubSubPublisher, RedisPubSubSubscriber } from '../src/index.js';
import { adminClient, clientIdByName, eventually, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(() => admin.disconnect());

describe('redis pub/sub flow control', () => {
  it('20 000 messages of 64 KiB from an awaiting sender all arrive, in order, with no loss reported', async () => {
    const topic = uniqueTopic('pubsub-flow');
    const losses: MessagesLostError[] = [];
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: REDIS_URL,
      onLoss: (e) => losses.push(e),
    });
    const pub = new RedisPubSubPublisher({ connection: REDIS_URL });
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

  it('a subscriber that does not read drops newer messages and reports the loss', async () => {
    const topic = uniqueTopic('pubsub-slow');
    const losses: MessagesLostError[] = [];
    const sub = await RedisPubSubSubscriber.create(topic, {
      connection: REDIS_URL,
      maxBufferedMessages: 10,
      onLoss: (e) => losses.push(e),
    });
    const pub = new RedisPubSubPublisher({ connection: REDIS_URL });
    for (let i = 0; i < 50; i++) await pub.send(topic, label(`m-${i}`));
    expect(await waitFor(() => sub.droppedMessages === 40, 5_000)).toBe(true);
    expect(losses).toHaveLength(1);
    expect(losses[0]).toBeInstanceOf(MessagesLostError);
    expect((await collect(sub, 10)).map(readLabel)).toEqual(
      Array.from({ length: 10 }, (_, i) => `m-${i}`),
    );
    // Reading again ends the run of drops: the next message is kept.
    await pub.send(topic, label('later'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['later']);
    await Promise.all([pub.close(), sub.close()]);
  });
});

describe('redis pub/sub reconnect', () => {
  it('after CLIENT KILL the subscriber reports the loss, resubscribes and receives again', async () => {
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
    const pub = new RedisPubSubPublisher({ connection: REDIS_URL });
    await pub.send(topic, label('before'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['before']);
    const id = await clientIdByName(admin, name);
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    expect(await waitFor(() => losses.length === 1, 5_000)).toBe(true);
    expect(losses[0]).toBeInstanceOf(MessagesLostError);
    expect(sub.connectionLosses).toBe(1);
    // Resubscribed: a new connection with the same name is subscribed to the channel again.
    const subscribers = async () =>
      ((await admin.call('PUBSUB', 'NUMSUB', topic)) as [string, number])[1];
    expect(await eventually(async () => (await subscribers()) === 1, 5_000)).toBe(true);
    await pub.send(topic, label('after'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['after']);
    await Promise.all([pub.close(), sub.close()]);
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
    const pub = new RedisPubSubPublisher({ connection: client });
    await pub.send(topic, label('mine'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['mine']);
    await Promise.all([pub.close(), sub.close()]);
    expect(client.status).toBe('ready');
    expect(client.mode).toBe('normal');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });
});
