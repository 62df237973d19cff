import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { collect, label, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisQueuePublisher, RedisQueueSubscriber } from '../src/index.js';
import { adminClient, deleteKeys, eventually, REDIS_URL } from './env.js';

// What a broker restart does to a subscriber's commands in flight, made deterministic: Redis runs
// the commands and the connection is cut before their replies reach the client (a clean SHUTDOWN
// exits without writing the replies of the commands it ran in its last event-loop turn). ioredis
// then sends every command that got no reply again on the new connection
// (autoResendUnfulfilledCommands), so each of them runs twice.

/** A TCP relay to Redis that can hold back the server's replies and then cut the connection. */
interface ReplyCutter {
  /** `REDIS_URL` with the relay's address. */
  readonly url: string;
  /** From now on, replies to the client are kept back. */
  hold(): void;
  /** Drops the replies kept back and closes every relayed connection; relays again afterwards. */
  cut(): void;
  close(): Promise<void>;
}

async function replyCutter(target: string): Promise<ReplyCutter> {
  const address = new URL(target);
  const pairs = new Set<[Socket, Socket]>();
  let holding = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(address.port || 6379), address.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!holding) client.write(chunk);
    });
    for (const socket of pair) {
      socket.on('error', () => {});
      socket.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relayed = new URL(target);
  relayed.hostname = '127.0.0.1';
  relayed.port = String((server.address() as { port: number }).port);
  const cut = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
    holding = false;
  };
  return {
    url: relayed.toString(),
    hold() {
      holding = true;
    },
    cut,
    close() {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('{queue-replay-test-*');
  await deleteKeys('queue-replay-test-*');
});

const topic = () => uniqueTopic('queue-replay-test');

async function pendingLabels(key: string): Promise<string[]> {
  return (await admin.lrange(key, 0, -1)).map((m) => readLabel(Buffer.from(m)));
}

describe('redis list queue: commands replayed after a connection cut their replies', () => {
  it('an acknowledgement run again after the reconnect does not remove the next message, and order is kept', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c']) await pub.send(name, label(item));
    await pub.close();
    const relay = await replyCutter(REDIS_URL);
    const sub = await RedisQueueSubscriber.create(name, { connection: relay.url });
    try {
      expect((await collect(sub, 1)).map(readLabel)).toEqual(['a']);
      relay.hold();
      // Acknowledges 'a' and moves 'b' to the pending list; both replies are held back.
      const next = sub.next();
      expect(
        await eventually(async () => (await pendingLabels(sub.pendingKey)).join() === 'b', 5_000),
      ).toBe(true);
      relay.cut();
      const after = await next;
      expect(after.done).toBe(false);
      expect(readLabel(after.value)).toBe('b');
      expect((await collect(sub, 1)).map(readLabel)).toEqual(['c']);
      await sub.ack();
      expect(await pendingLabels(sub.pendingKey)).toEqual([]);
      expect(await admin.llen(name)).toBe(0);
    } finally {
      await sub.close();
      await relay.close();
    }
  });

  it('with count > 1, an acknowledgement run again does not remove a message still held, which close() hands back', async () => {
    const name = topic();
    const pub = await RedisQueuePublisher.create({ connection: REDIS_URL });
    for (const item of ['a', 'b', 'c']) await pub.send(name, label(item));
    await pub.close();
    const relay = await replyCutter(REDIS_URL);
    const sub = await RedisQueueSubscriber.create(name, { connection: relay.url, count: 2 });
    try {
      expect((await collect(sub, 1)).map(readLabel)).toEqual(['a']);
      expect(await pendingLabels(sub.pendingKey)).toEqual(['a', 'b']);
      relay.hold();
      // 'b' came with 'a': asking for it acknowledges 'a' only; that reply is held back.
      expect((await collect(sub, 1)).map(readLabel)).toEqual(['b']);
      expect(
        await eventually(async () => (await pendingLabels(sub.pendingKey)).join() === 'b', 5_000),
      ).toBe(true);
      relay.cut();
    } finally {
      // Waits for the acknowledgement (answered after the reconnect), then hands back what is
      // pending: 'b', yielded and never acknowledged, goes back to the head of the queue.
      await sub.close();
      await relay.close();
    }
    expect((await admin.lrange(name, 0, -1)).map((m) => readLabel(Buffer.from(m)))).toEqual([
      'b',
      'c',
    ]);
  });
});
