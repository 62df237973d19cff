// When the core NATS publisher hands messages to the client and when it flushes (PING/PONG):
// an idle publisher hands a send over at once, and a flush comes only when the window needs it.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { collect, label, labels, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import { BrokerError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { NatsPublisher, type NatsPublisherOptions, NatsSubscriber } from '../src/index.js';
import { NATS_URL } from './support.js';

/** Counts the client's `publish` and `flush` calls on a real connection (the calls still happen). */
function counting(nc: NatsConnection): { publishes: () => number; flushes: () => number } {
  let publishes = 0;
  let flushes = 0;
  const publish = nc.publish.bind(nc);
  const flush = nc.flush.bind(nc);
  nc.publish = (...args: Parameters<NatsConnection['publish']>) => {
    publishes++;
    return publish(...args);
  };
  nc.flush = () => {
    flushes++;
    return flush();
  };
  return { publishes: () => publishes, flushes: () => flushes };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

interface Setup {
  readonly topic: string;
  readonly nc: NatsConnection;
  readonly calls: ReturnType<typeof counting>;
  readonly publisher: NatsPublisher;
  readonly subscriber: NatsSubscriber;
}

/**
 * A subscriber, and a publisher on a connection of the test's own whose calls are counted; runs
 * `body`, then closes both and the connection.
 */
async function withPublisher(
  prefix: string,
  options: Omit<NatsPublisherOptions, 'connection'>,
  body: (setup: Setup) => Promise<void>,
): Promise<void> {
  const topic = uniqueTopic(prefix);
  const nc = await connect({ servers: NATS_URL });
  const calls = counting(nc);
  const subscriber = await NatsSubscriber.create(topic, { connection: { servers: NATS_URL } });
  const publisher = await NatsPublisher.create({ ...options, connection: nc });
  try {
    await body({ topic, nc, calls, publisher, subscriber });
  } finally {
    await publisher.close().catch(() => undefined);
    await subscriber.close();
    await nc.close();
  }
}

describe('core NATS publisher: hand-over, its errors, and flushes', () => {
  it('hands a send to an idle publisher to the client before send resolves, and gathers the sends of the same turn', async () => {
    await withPublisher('core-handover', {}, async ({ topic, calls, publisher, subscriber }) => {
      await publisher.send(topic, label('first'));
      // Before, every send waited for the next turn of the event loop to reach the client.
      expect(calls.publishes()).toBe(1);
      await Promise.all(labels('burst', 3).map((item) => publisher.send(topic, label(item))));
      expect(calls.publishes()).toBe(1);
      await nextTurn();
      expect(calls.publishes()).toBe(4);
      await publisher.close();
      const got = await collect(subscriber, 4, { inactivityMs: 5_000 });
      expect(got.map(readLabel)).toEqual(['first', ...labels('burst', 3)]);
    });
  });

  it('sends at a low rate pay no flush each: one comes when half the window is used, and one on close', async () => {
    const options = { maxInFlightMessages: 8 };
    await withPublisher('core-flush', options, async ({ topic, calls, publisher, subscriber }) => {
      const sent = labels('slow', 10);
      for (const item of sent) {
        await publisher.send(topic, label(item));
        await nextTurn();
      }
      // Before: one flush per turn that handed messages over, so ten.
      expect(calls.flushes()).toBeLessThanOrEqual(3);
      expect(calls.flushes()).toBeGreaterThanOrEqual(1);
      const beforeClose = calls.flushes();
      await publisher.close();
      expect(calls.flushes()).toBeGreaterThan(beforeClose);
      const got = await collect(subscriber, sent.length, { inactivityMs: 5_000 });
      expect(got.map(readLabel)).toEqual(sent);
    });
  });

  it('a client error while an idle publisher hands a send over rejects that send, and the next send goes out', async () => {
    const options = { maxInFlightMessages: 1 };
    await withPublisher('core-refused', options, async ({ topic, nc, publisher, subscriber }) => {
      const publish = nc.publish;
      nc.publish = () => {
        throw new Error('refused by the client');
      };
      const error = await publisher.send(topic, label('refused')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as Error).message).toContain('refused by the client');
      nc.publish = publish;
      // The refused send freed its room (a window of one message): this one is not held back.
      await publisher.send(topic, label('after'));
      await publisher.close();
      const got = await collect(subscriber, 1, { inactivityMs: 5_000 });
      expect(got.map(readLabel)).toEqual(['after']);
    });
  });

  it('a send that waits for room starts a flush even below half the window, so it does not wait forever', async () => {
    const options = { maxInFlightBytes: 1000 };
    await withPublisher('core-room', options, async ({ topic, publisher, subscriber }) => {
      // 100 bytes are below half the window; 950 more do not fit beside them.
      await publisher.send(topic, new Uint8Array(100));
      await nextTurn();
      const large = publisher.send(topic, new Uint8Array(950));
      const outcome = await Promise.race([
        large.then(() => 'sent'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000)),
      ]);
      expect(outcome).toBe('sent');
      const got = await collect(subscriber, 2, { inactivityMs: 5_000 });
      expect(got.map((message) => message.byteLength)).toEqual([100, 950]);
    });
  });
});
