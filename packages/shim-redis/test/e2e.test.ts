// The round trips of every Redis shim (inline, through the store, bad input, shutdown) are the
// stream contract's (see *.contract.test.ts). What stays here needs the admin client: a pub/sub
// connection killed with CLIENT KILL in the middle of a stream, seen by a StreamConsumer.
import { randomBytes } from 'node:crypto';
import { uniqueTopic, waitFor, within } from '@proxystream/contract-tests';
import { MessagesLostError, SequenceGapError } from '@proxystream/protocols';
import { StreamConsumer, StreamProducer } from '@proxystream/stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisPubSubPublisher, RedisPubSubSubscriber } from '../src/index.js';
import { adminClient, clientIdByName, REDIS_URL } from './env.js';

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(() => {
  admin.disconnect();
});

it('pub/sub: a connection killed mid-stream shows up as one MessagesLostError and a sequence gap at the consumer', async () => {
  const topic = uniqueTopic('e2e-gap');
  const name = `e2e-gap-${randomBytes(4).toString('hex')}`;
  const url = new URL(REDIS_URL);
  const losses: MessagesLostError[] = [];
  const subscriber = await RedisPubSubSubscriber.create(topic, {
    connection: { host: url.hostname, port: Number(url.port || 6379), connectionName: name },
    onLoss: (error) => losses.push(error),
  });
  const gaps: SequenceGapError[] = [];
  const consumer = new StreamConsumer<number>(subscriber, {
    topics: [topic],
    onGap: (gap) => gaps.push(gap),
  });
  const producer = new StreamProducer<number>(
    await RedisPubSubPublisher.create({ connection: REDIS_URL }),
  );
  const received: number[] = [];
  const lossErrors: unknown[] = [];
  const reading = (async () => {
    for (;;) {
      // The loss rule: next() rejects with MessagesLostError where the connection broke, and
      // the stream goes on.
      const result = await consumer.nextObject().catch((error: unknown) => {
        if (!(error instanceof MessagesLostError)) throw error;
        lossErrors.push(error);
        return undefined;
      });
      if (result === undefined) continue;
      if (result.done === true) return;
      received.push(result.value);
    }
  })();
  let sent = 0;
  const sendOne = async () => {
    await producer.send(topic, sent++);
    await new Promise((resolve) => setTimeout(resolve, 1));
  };
  while (received.length < 50) await sendOne();
  const id = await clientIdByName(admin, name);
  expect(id).toBeDefined();
  await admin.client('KILL', 'ID', id!);
  // Keep sending through the outage until the consumer has seen the gap.
  const deadline = Date.now() + 20_000;
  while (gaps.length === 0 && Date.now() < deadline) await sendOne();
  await producer.close({ topics: [topic] });
  await within(reading, 20_000, 'reading to the end of the stream');
  expect(losses.length).toBeGreaterThanOrEqual(1);
  expect(losses[0]).toBeInstanceOf(MessagesLostError);
  expect(lossErrors).toHaveLength(losses.length);
  expect(gaps).toHaveLength(1);
  expect(gaps[0]).toBeInstanceOf(SequenceGapError);
  expect(gaps[0]!.missing).toBeGreaterThan(0);
  // Every object is either received or counted in the gap, and what was received is in order.
  expect(received.length + gaps[0]!.missing).toBe(sent);
  expect([...received].sort((a, b) => a - b)).toEqual(received);
  expect(await waitFor(() => subscriber.connectionLosses === 1, 1_000)).toBe(true);
  await consumer.close();
});
