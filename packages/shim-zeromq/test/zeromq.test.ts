import {
  InvalidArgumentError,
  MessagesLostError,
  MessageTooLargeError,
} from '@proxystream/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { Push } from 'zeromq';
import { ZmqPublisher, ZmqPullSubscriber, ZmqPushPublisher, ZmqSubscriber } from '../src/index.js';

const LOOPBACK = 'tcp://127.0.0.1:*';
const text = (value: string) => new TextEncoder().encode(value);
const read = (value: Uint8Array) => new TextDecoder().decode(value);
const open: Array<{ close(): Promise<void> }> = [];
const track = <T extends { close(): Promise<void> }>(item: T): T => {
  open.push(item);
  return item;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

/** Reads a subscriber with at most one `next()` pending, skipping the readiness pings. */
class Reader {
  #pending: Promise<IteratorResult<Uint8Array>> | undefined;
  constructor(readonly source: AsyncIterator<Uint8Array>) {}

  /** The next message other than a ping, or `undefined` after `ms`. */
  async next(ms = 10_000): Promise<IteratorResult<Uint8Array> | undefined> {
    for (;;) {
      this.#pending ??= this.source.next();
      const pending = this.#pending;
      const got = await Promise.race([
        pending,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms)),
      ]).catch((error: unknown) => {
        this.#pending = undefined;
        throw error;
      });
      if (got === undefined) return undefined;
      this.#pending = undefined;
      if (got.done === true || read(got.value) !== 'ping') return got;
    }
  }

  /** True once a ping arrived within `ms`. */
  async ping(ms: number): Promise<boolean> {
    this.#pending ??= this.source.next();
    const got = await Promise.race([
      this.#pending,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms)),
    ]).catch(() => null);
    if (got === undefined) return false;
    this.#pending = undefined;
    return true;
  }
}

/** ZeroMQ's slow joiner: each publisher sends pings until the subscriber got one. */
async function joined(publishers: readonly ZmqPublisher[], reader: Reader, topic: string) {
  for (const publisher of publishers) {
    do await publisher.send(topic, text('ping'));
    while (!(await reader.ping(20)));
  }
}

async function take(reader: Reader, count: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < count) {
    const step = await reader.next();
    if (step === undefined || step.done === true) break;
    out.push(read(step.value));
  }
  return out;
}

describe('PUB/SUB', () => {
  it('matches topics exactly: a subscriber of "a" does not receive "ab" or "a.b"', async () => {
    const publisher = track(await ZmqPublisher.create({ bind: LOOPBACK }));
    const sub = new Reader(
      track(await ZmqSubscriber.create('a', { connect: publisher.endpoints[0]! })),
    );
    await joined([publisher], sub, 'a');
    await publisher.send('ab', text('wrong'));
    await publisher.send('a.b', text('wrong'));
    await publisher.send('a', text('right'));
    expect(await take(sub, 1)).toEqual(['right']);
  });

  it('works with the subscriber bound and the publisher connecting', async () => {
    const bound = track(await ZmqSubscriber.create('bound', { bind: LOOPBACK }));
    expect(bound.endpoints[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const publisher = track(await ZmqPublisher.create({ connect: bound.endpoints[0]! }));
    const sub = new Reader(bound);
    await joined([publisher], sub, 'bound');
    await publisher.send('bound', text('hello'));
    expect(await take(sub, 1)).toEqual(['hello']);
  });

  it('delivers from several publishers to one subscriber, each in order', async () => {
    const bound = track(await ZmqSubscriber.create('many', { bind: LOOPBACK }));
    const publishers = [
      track(await ZmqPublisher.create({ connect: bound.endpoints })),
      track(await ZmqPublisher.create({ connect: bound.endpoints })),
      track(await ZmqPublisher.create({ connect: bound.endpoints })),
    ];
    const sub = new Reader(bound);
    await joined(publishers, sub, 'many');
    await Promise.all(
      publishers.map(async (publisher, p) => {
        for (let i = 0; i < 100; i++) await publisher.send('many', text(`${p}-${i}`));
      }),
    );
    const got = await take(sub, 300);
    for (let p = 0; p < 3; p++) {
      expect(got.filter((item) => item.startsWith(`${p}-`))).toEqual(
        Array.from({ length: 100 }, (_, i) => `${p}-${i}`),
      );
    }
  });

  it('fans one publisher out to several subscribers that connect', async () => {
    const publisher = track(await ZmqPublisher.create({ bind: LOOPBACK }));
    const subs = [
      new Reader(track(await ZmqSubscriber.create('fan', { connect: publisher.endpoints }))),
      new Reader(track(await ZmqSubscriber.create('fan', { connect: publisher.endpoints }))),
    ];
    for (const sub of subs) await joined([publisher], sub, 'fan');
    for (let i = 0; i < 20; i++) await publisher.send('fan', text(`m${i}`));
    for (const sub of subs) {
      expect(await take(sub, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    }
  });

  it('reports drops at the high-water mark where they happened, and goes on after them', async () => {
    const publisher = track(
      await ZmqPublisher.create({ bind: LOOPBACK, sendHighWaterMark: 10, sendBufferSize: 4096 }),
    );
    const losses: MessagesLostError[] = [];
    const lossy = track(
      await ZmqSubscriber.create('hwm', {
        connect: publisher.endpoints,
        receiveHighWaterMark: 10,
        receiveBufferSize: 4096,
        onLoss: (error) => losses.push(error),
      }),
    );
    const sub = new Reader(lossy);
    await joined([publisher], sub, 'hwm');
    const padding = 'x'.repeat(1024);
    const total = 5000;
    // One burst without giving the subscriber's reads a turn: ZeroMQ must drop at the marks.
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) sends.push(publisher.send('hwm', text(`${i} ${padding}`)));
    await Promise.all(sends);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await publisher.send('hwm', text(`${total} end`));
    const numbers: number[] = [];
    const rejections: Array<{ after: number; error: unknown }> = [];
    while (numbers.at(-1) !== total) {
      try {
        const step = await sub.next();
        if (step === undefined || step.done === true) break;
        numbers.push(Number(read(step.value).split(' ')[0]));
      } catch (error) {
        rejections.push({ after: numbers.length, error });
      }
    }
    expect(rejections.length).toBeGreaterThan(0);
    expect(losses).toHaveLength(rejections.length);
    // Every jump in the numbers has a rejection right there, and nowhere else.
    const jumps: number[] = [];
    for (let i = 1; i < numbers.length; i++) {
      if (numbers[i]! !== numbers[i - 1]! + 1) jumps.push(i);
    }
    expect(rejections.map((item) => item.after)).toEqual(jumps);
    for (const { error } of rejections) expect(error).toBeInstanceOf(MessagesLostError);
    const counted = rejections.reduce(
      (sum, { error }) => sum + Number(/^(\d+) message/.exec((error as Error).message)?.[1]),
      0,
    );
    expect(counted).toBe(total + 1 - numbers.length - numbers[0]!);
  });

  it('refuses a message over maxMessageSize on send', async () => {
    const publisher = track(await ZmqPublisher.create({ bind: LOOPBACK, maxMessageSize: 100 }));
    await expect(publisher.send('big', new Uint8Array(101))).rejects.toBeInstanceOf(
      MessageTooLargeError,
    );
    expect(publisher.capabilities.maxMessageSize).toBe(100);
  });

  it('needs an endpoint', async () => {
    await expect(ZmqPublisher.create({})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ZmqSubscriber.create('t', { connect: 'nowhere' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

describe('PUSH/PULL', () => {
  it('shares the messages of one pusher between pullers that connect', async () => {
    const publisher = track(await ZmqPushPublisher.create({ bind: LOOPBACK }));
    const pullers = [
      track(await ZmqPullSubscriber.create('jobs', { connect: publisher.endpoints })),
      track(await ZmqPullSubscriber.create('jobs', { connect: publisher.endpoints })),
    ];
    await new Promise((resolve) => setTimeout(resolve, 100)); // both connected: round robin
    for (let i = 0; i < 100; i++) await publisher.send('jobs', text(`j${i}`));
    const got = await Promise.all(pullers.map((puller) => take(new Reader(puller), 50)));
    expect(got[0]!.length + got[1]!.length).toBe(100);
    expect(new Set([...got[0]!, ...got[1]!]).size).toBe(100);
  });

  it('takes from several pushers that connect to a bound puller', async () => {
    const puller = track(await ZmqPullSubscriber.create('sink', { bind: LOOPBACK }));
    const pushers = [
      track(await ZmqPushPublisher.create({ connect: puller.endpoints })),
      track(await ZmqPushPublisher.create({ connect: puller.endpoints })),
    ];
    await Promise.all(
      pushers.map(async (pusher, p) => {
        for (let i = 0; i < 50; i++) await pusher.send('sink', text(`${p}-${i}`));
      }),
    );
    const got = await take(new Reader(puller), 100);
    for (let p = 0; p < 2; p++) {
      expect(got.filter((item) => item.startsWith(`${p}-`))).toEqual(
        Array.from({ length: 50 }, (_, i) => `${p}-${i}`),
      );
    }
  });

  it('makes send wait while no puller is connected, then delivers', async () => {
    const publisher = track(await ZmqPushPublisher.create({ bind: LOOPBACK }));
    let sent = false;
    const sending = publisher.send('later', text('waiting')).then(() => {
      sent = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toBe(false);
    const puller = track(await ZmqPullSubscriber.create('later', { connect: publisher.endpoints }));
    await sending;
    expect(await take(new Reader(puller), 1)).toEqual(['waiting']);
  });

  it('copies each message unless the caller hands it over with { owned: true }', async () => {
    const publisher = track(await ZmqPushPublisher.create({ bind: LOOPBACK }));
    // No puller yet: the first send waits in ZeroMQ, the next two in the publisher's queue.
    const copied = text('copied');
    const handedOver = text('handed');
    const sends = [
      publisher.send('owned', text('first')),
      publisher.send('owned', copied),
      publisher.send('owned', handedOver, { owned: true }),
    ];
    copied.fill(0x21);
    handedOver.fill(0x2a);
    const puller = track(await ZmqPullSubscriber.create('owned', { connect: publisher.endpoints }));
    await Promise.all(sends);
    expect(await take(new Reader(puller), 3)).toEqual(['first', 'copied', '******']);
  });

  it('drops and reports a message of another topic', async () => {
    const puller = track(await ZmqPullSubscriber.create('mine', { bind: LOOPBACK }));
    const pusher = track(await ZmqPushPublisher.create({ connect: puller.endpoints }));
    await pusher.send('theirs', text('x'));
    await pusher.send('mine', text('y'));
    await expect(puller.next()).rejects.toBeInstanceOf(MessagesLostError);
    expect(await take(new Reader(puller), 1)).toEqual(['y']);
  });

  it('disconnects a raw peer that sends a part over maxMessageSize, and goes on', async () => {
    const puller = track(
      await ZmqPullSubscriber.create('limit', { bind: LOOPBACK, maxMessageSize: 1024 }),
    );
    const raw = new Push({ linger: 0 });
    raw.connect(puller.endpoints[0]!);
    await raw.send([Buffer.from('limit\0'), Buffer.alloc(11), Buffer.alloc(1_000_000)]);
    const pusher = track(await ZmqPushPublisher.create({ connect: puller.endpoints }));
    await pusher.send('limit', text('small'));
    expect(await take(new Reader(puller), 1)).toEqual(['small']);
    raw.close();
  });

  it('close() is bounded when a send waits for a puller that never comes', async () => {
    const publisher = await ZmqPushPublisher.create({ bind: LOOPBACK, closeTimeoutMs: 200 });
    const sending = publisher.send('nobody', text('stuck')).catch((error: unknown) => error);
    const started = Date.now();
    await publisher.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await sending).toBeInstanceOf(Error);
  });
});
