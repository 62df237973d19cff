import {
  closeAfterEach,
  collect,
  label,
  labels,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  JetStreamPublisher,
  JetStreamSubscriber,
  type JetStreamSubscriberOptions,
  NatsPublisher,
  NatsSubscriber,
} from '../src/index.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from './support.js';

beforeAll(ensureTestStream);

const { track } = closeAfterEach();

const connection = { servers: NATS_URL };
const options: JetStreamSubscriberOptions = { connection, ...TEST_STREAM };

async function sendAll(publisher: JetStreamPublisher, topic: string, items: string[]) {
  await Promise.all(items.map((item) => publisher.send(topic, label(item))));
}

const read = async (subscriber: JetStreamSubscriber, count: number) =>
  (await collect(subscriber, count)).map(readLabel);

describe('jetstream subscriber lag', () => {
  for (const kind of ['group', 'ordered'] as const) {
    it(`of a${kind === 'group' ? ' group member' : 'n ordered subscriber'} counts the messages not yet yielded and reaches 0`, async () => {
      const topic = uniqueTopic('js-lag');
      const pub = track(await JetStreamPublisher.create({ connection, ...TEST_STREAM }));
      const sent = labels('lag', 40);
      await sendAll(pub, topic, sent);
      const sub = track(
        await JetStreamSubscriber.create(topic, {
          ...options,
          ...(kind === 'group' ? { group: 'workers' } : {}),
        }),
      );
      // Whether the first pull has arrived or not, nothing was yielded.
      expect(await sub.lag()).toBe(40);
      const first = await read(sub, 10);
      expect(await sub.lag()).toBe(30);
      const rest = await read(sub, 30);
      expect([...first, ...rest]).toEqual(sent);
      expect(await sub.lag()).toBe(0);
      await sendAll(pub, topic, labels('more', 5));
      await vi.waitFor(async () => expect(await sub.lag()).toBe(5), { timeout: 10_000 });
      expect(await read(sub, 2)).toEqual(['more-0', 'more-1']);
      expect(await sub.lag()).toBe(3);
    });
  }

  it('while the buffer is full, asks the server and counts what was stored since', async () => {
    const topic = uniqueTopic('js-lag-full');
    const pub = track(await JetStreamPublisher.create({ connection, ...TEST_STREAM }));
    const payload = new Uint8Array(1000);
    await Promise.all(Array.from({ length: 20 }, () => pub.send(topic, payload)));
    // About three messages fit: the subscriber stops pulling with the rest still in the stream.
    const sub = track(
      await JetStreamSubscriber.create(topic, {
        ...options,
        group: 'workers',
        maxBufferedBytes: 4096,
      }),
    );
    await collect(sub, 1);
    await vi.waitFor(async () => expect(await sub.lag()).toBe(19), { timeout: 5_000 });
    await Promise.all(Array.from({ length: 10 }, () => pub.send(topic, payload)));
    await vi.waitFor(async () => expect(await sub.lag()).toBe(29), { timeout: 5_000 });
    await collect(sub, 29);
    expect(await sub.lag()).toBe(0);
  });

  it('of a new subscriber with nothing to read is 0, and undefined after close', async () => {
    const topic = uniqueTopic('js-lag-empty');
    const sub = await JetStreamSubscriber.create(topic, { ...options, group: 'workers' });
    expect(await sub.lag()).toBe(0);
    const pending = sub.lag();
    await sub.close();
    expect([0, undefined]).toContain(await pending);
    expect(await sub.lag()).toBeUndefined();
  });
});

describe('jetstream subscriber with a small buffer', () => {
  it('keeps pulling once its buffer empties, with maxBufferedBytes below one message as first estimated', async () => {
    const topic = uniqueTopic('js-small-buffer');
    const pub = track(await JetStreamPublisher.create({ connection, ...TEST_STREAM }));
    const sent = labels('small', 6);
    await sendAll(pub, topic, sent);
    // The first estimate is max_payload (1 MiB): far above the whole buffer.
    const sub = track(
      await JetStreamSubscriber.create(topic, { ...options, group: 'w', maxBufferedBytes: 4096 }),
    );
    const received: string[] = [];
    for (const _ of sent) {
      received.push(...(await read(sub, 1)));
      await new Promise((resolve) => setTimeout(resolve, 50)); // the next pull lands in the buffer
    }
    expect(received).toEqual(sent);
  });
});

describe('nats messaging attributes', () => {
  it("are { system: 'nats' }, with the group of a queue group or a durable", async () => {
    const topic = uniqueTopic('nats-messaging');
    const core = track(await NatsPublisher.create({ connection }));
    const js = track(await JetStreamPublisher.create({ connection, ...TEST_STREAM }));
    expect(core.messaging).toEqual({ system: 'nats' });
    expect(js.messaging).toEqual({ system: 'nats' });
    const plain = track(await NatsSubscriber.create(topic, { connection }));
    const queue = track(await NatsSubscriber.create(topic, { connection, group: 'q' }));
    const ordered = track(await JetStreamSubscriber.create(topic, options));
    const durable = track(await JetStreamSubscriber.create(topic, { ...options, group: 'd' }));
    expect(plain.messaging).toEqual({ system: 'nats' });
    expect(queue.messaging).toEqual({ system: 'nats', group: 'q' });
    expect(ordered.messaging).toEqual({ system: 'nats' });
    expect(durable.messaging).toEqual({ system: 'nats', group: 'd' });
    expect(Object.isFrozen(durable.messaging)).toBe(true);
    expect('lag' in plain).toBe(false);
  });
});
