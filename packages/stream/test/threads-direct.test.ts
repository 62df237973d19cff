import { MessagePort } from 'node:worker_threads';
import { ClosedError } from '@proxystream/protocols';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ThreadsBroker, ThreadsPublisher, ThreadsSubscriber } from '../src/index.js';

/** Counts the publisher messages (`{ t, d }`) posted on any `MessagePort` from now on. */
function countDataPosts(): { readonly count: () => number } {
  const post = vi.spyOn(MessagePort.prototype, 'postMessage');
  return {
    count: () =>
      post.mock.calls.filter(([message]) => {
        const data = message as { t?: unknown; d?: unknown } | undefined;
        return typeof data?.t === 'string' && data.d instanceof Uint8Array;
      }).length,
  };
}

/** The next `n` messages of `subscriber`, leaving it open (a `break` out of `for await` would close it). */
async function take(subscriber: ThreadsSubscriber, n: number): Promise<Uint8Array[]> {
  const messages = subscriber[Symbol.asyncIterator]();
  const got: Uint8Array[] = [];
  while (got.length < n) {
    const next = await messages.next();
    if (next.done === true) break;
    got.push(next.value);
  }
  return got;
}

describe("worker-threads shim: a publisher in the broker's own thread", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('hands its messages to the broker by call (no port hop); through a handle they still cross its port', async () => {
    await using broker = await ThreadsBroker.create();
    const subscriber = await ThreadsSubscriber.create('direct', { connection: broker });
    const posts = countDataPosts();
    await using direct = await ThreadsPublisher.create({ connection: broker });
    for (let i = 0; i < 5; i++) await direct.send('direct', new Uint8Array([i]));
    expect((await take(subscriber, 5)).map((m) => m[0])).toEqual([0, 1, 2, 3, 4]);
    expect(posts.count()).toBe(0);

    await using viaHandle = await ThreadsPublisher.create({ connection: broker.handle() });
    for (let i = 5; i < 10; i++) await viaHandle.send('direct', new Uint8Array([i]));
    expect((await take(subscriber, 5)).map((m) => m[0])).toEqual([5, 6, 7, 8, 9]);
    expect(posts.count()).toBe(5);
    await subscriber.close();
  });

  it('a message the broker must keep (the subscriber is full) is copied: the caller may reuse its buffer', async () => {
    await using broker = await ThreadsBroker.create();
    const one = await ThreadsSubscriber.create('full', {
      connection: broker,
      maxBufferedMessages: 1,
    });
    const two = await ThreadsSubscriber.create('full', { connection: broker });
    await using publisher = await ThreadsPublisher.create({ connection: broker });
    const buffer = new Uint8Array([1, 1, 1]);
    await publisher.send('full', buffer); // delivered at once: one has no room after it
    buffer.fill(2);
    await publisher.send('full', buffer); // kept by the broker until one takes the first
    buffer.fill(9);
    expect(buffer.byteLength).toBe(3);
    const seen = [...(await take(one, 2)), ...(await take(two, 2))].map((m) => [...m]);
    expect(seen).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [1, 1, 1],
      [2, 2, 2],
    ]);
    await one.close();
    await two.close();
  });

  it('transfer: true detaches the buffer whether the broker delivers the message at once or keeps it', async () => {
    await using broker = await ThreadsBroker.create();
    const subscriber = await ThreadsSubscriber.create('moved', {
      connection: broker,
      maxBufferedMessages: 1,
    });
    await using publisher = await ThreadsPublisher.create({ connection: broker, transfer: true });
    const first = new Uint8Array(1024).fill(7);
    const second = new Uint8Array(1024).fill(8);
    await publisher.send('moved', first);
    await publisher.send('moved', second);
    expect(first.buffer.byteLength).toBe(0);
    expect(second.buffer.byteLength).toBe(0);
    const got = await take(subscriber, 2);
    expect(got.map((m) => [m.byteLength, m[0], m[1023]])).toEqual([
      [1024, 7, 7],
      [1024, 8, 8],
    ]);
    await subscriber.close();
  });

  it('a send after the broker closed rejects with ClosedError at once, not after a lost message', async () => {
    const broker = await ThreadsBroker.create();
    const subscriber = await ThreadsSubscriber.create('late', { connection: broker });
    const publisher = await ThreadsPublisher.create({ connection: broker });
    await publisher.send('late', new Uint8Array([1]));
    await broker.close();
    await expect(publisher.send('late', new Uint8Array([2]))).rejects.toBeInstanceOf(ClosedError);
    await publisher.close();
    await subscriber.close();
  });
});
