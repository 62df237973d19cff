import { connect } from '@nats-io/transport-node';
import {
  acceptsConnections,
  collect,
  freePort,
  type LocalServer,
  label,
  labels,
  readLabel,
  startLocalServer,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { MessagesLostError } from '@proxystream/protocols';
import { StreamConsumer, StreamProducer } from '@proxystream/stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsPublisher, NatsSubscriber } from '../src/index.js';
import { NATS_URL } from './support.js';

/** What `next()` gave: a label, `lost` for a MessagesLostError, or the error's text. */
async function step(subscriber: NatsSubscriber): Promise<string> {
  const outcome = await within(subscriber.next(), 5_000, 'next()').catch((error: unknown) => error);
  if (outcome instanceof MessagesLostError) return 'lost';
  if (outcome instanceof Error) return String(outcome);
  const result = outcome as IteratorResult<Uint8Array>;
  return result.done === true ? 'done' : readLabel(result.value);
}

describe('core NATS: a loss is thrown where it happened', () => {
  it('a slow reader whose last messages were dropped gets MessagesLostError after the messages it did receive', async () => {
    const topic = uniqueTopic('core-loss');
    const nc = await connect({ servers: NATS_URL });
    const subscriber = await NatsSubscriber.create(topic, {
      connection: nc,
      maxBufferedMessages: 4,
    });
    const publisher = await NatsPublisher.create({ connection: nc });
    try {
      const publish = async (items: readonly string[]) => {
        for (const item of items) await publisher.send(topic, label(item));
        // The publisher hands the sends after the first of a turn to the client on the next turn;
        // then the server answers this ping after all of them: all reached the subscriber.
        await new Promise((resolve) => setImmediate(resolve));
        await nc.flush();
      };
      await publish(labels('a', 5)); // a-4 dropped
      expect(await step(subscriber)).toBe('a-0');
      // b-0 kept behind the first loss; the last of the `end` run dropped (the client may hand a
      // message on before the next arrives, so how many of them fit is not fixed).
      await publish(['b-0', ...labels('end', 4)]);
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(await step(subscriber));
      expect(seen).toEqual(['a-1', 'a-2', 'a-3', 'lost', 'b-0']);
      const tail: string[] = [];
      while (tail.length < 6 && tail.at(-1) !== 'lost') tail.push(await step(subscriber));
      // Whatever was kept comes in order, then the loss of the rest, after it.
      expect(tail.at(-1)).toBe('lost');
      expect(tail.slice(0, -1)).toEqual(labels('end', tail.length - 1));
      expect(tail.length).toBeLessThan(5);
    } finally {
      await publisher.close();
      await subscriber.close();
      await nc.close();
    }
  });
});

describe('core NATS: a disconnect is a loss', () => {
  let server: LocalServer | undefined;
  let port: number;
  const start = async () => {
    server = await startLocalServer({
      command: 'nats-server',
      // The same port every time: the clients reconnect to the restarted server.
      args: () => ['-a', '127.0.0.1', '-p', String(port)],
      ready: () => acceptsConnections(port),
    });
  };
  beforeAll(async () => {
    port = await freePort();
    await start();
  });
  afterAll(() => server?.stop());

  it('an end of stream published while the subscriber is disconnected makes the StreamConsumer’s next() reject with MessagesLostError', async () => {
    const topic = uniqueTopic('core-lost-end');
    const servers = `nats://127.0.0.1:${port}`;
    // The subscriber reconnects slowly, the producer at once: the end of stream goes out while
    // nobody is subscribed.
    const subscriber = await NatsSubscriber.create(topic, {
      connection: { servers, maxReconnectAttempts: -1, reconnectTimeWait: 3_000 },
    });
    const consumer = new StreamConsumer<number>(subscriber, { topics: [topic] });
    const publisher = await NatsPublisher.create({
      connection: { servers, maxReconnectAttempts: -1, reconnectTimeWait: 50 },
    });
    const producer = new StreamProducer<number>(publisher);
    try {
      for (let i = 0; i < 3; i++) await producer.send(topic, i);
      await producer.flush();
      for (let i = 0; i < 3; i++) {
        expect(await within(consumer.nextObject(), 5_000, `object ${i}`)).toEqual({
          done: false,
          value: i,
        });
      }
      // Nobody is reading while the server goes away and comes back.
      await server!.kill();
      await start();
      await producer.close({ topics: [topic] });
      const outcome = await within(consumer.next(), 10_000, 'next() after the lost end').catch(
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(MessagesLostError);
      expect((outcome as MessagesLostError).code).toBe('MESSAGES_LOST');
    } finally {
      await consumer.close();
      await producer.close().catch(() => undefined);
    }
  });

  it('a pending next() rejects with MessagesLostError when the server goes away, then the subscriber receives again', async () => {
    const topic = uniqueTopic('core-disconnect');
    const servers = `nats://127.0.0.1:${port}`;
    const subscriber = await NatsSubscriber.create(topic, {
      connection: { servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 },
    });
    try {
      const pending = subscriber.next().catch((error: unknown) => error);
      await server!.kill();
      expect(await within(pending, 5_000, 'pending next()')).toBeInstanceOf(MessagesLostError);
      await start();
      const publisher = await NatsPublisher.create({ connection: { servers } });
      try {
        // Resubscribed once the client reconnected: keep sending until one arrives.
        const reading = collect(subscriber, 1, { inactivityMs: 10_000 });
        let arrived = false;
        void reading.then(() => {
          arrived = true;
        });
        while (!arrived) {
          await publisher.send(topic, label('after'));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect((await reading).map(readLabel)).toEqual(['after']);
      } finally {
        await publisher.close();
      }
    } finally {
      await subscriber.close();
    }
  });
});
