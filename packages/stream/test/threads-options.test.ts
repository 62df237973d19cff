import { AbortedError, InvalidArgumentError, InvalidTopicError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { ThreadsBroker, ThreadsPublisher, ThreadsSubscriber } from '../src/index.js';

describe('worker-threads shim options and the signal rule', () => {
  it('an already-aborted signal makes create reject with AbortedError and connect nothing', async () => {
    await using broker = await ThreadsBroker.create();
    const signal = AbortSignal.abort();
    await expect(ThreadsPublisher.create({ connection: broker, signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    await expect(
      ThreadsSubscriber.create('t', { connection: broker, signal }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(broker.connections).toEqual({ publishers: 0, subscribers: 0 });
  });

  it('invalid options and connections reject with InvalidArgumentError before anything opens', async () => {
    await using broker = await ThreadsBroker.create();
    const bad: Array<() => Promise<unknown>> = [
      () => ThreadsPublisher.create({ connection: broker, maxInFlightMessages: 0 }),
      () => ThreadsPublisher.create({ connection: broker, maxInFlightBytes: 1.5 }),
      () => ThreadsPublisher.create({ connection: broker, closeTimeoutMs: -1 }),
      () => ThreadsPublisher.create({ connection: {} as ThreadsBroker }),
      () => ThreadsSubscriber.create('t', { connection: broker, maxBufferedMessages: -1 }),
      () => ThreadsSubscriber.create('t', { connection: broker, maxBufferedBytes: 0 }),
      () => ThreadsSubscriber.create('t', { connection: broker, group: '' }),
      () => ThreadsSubscriber.create('t', { connection: broker, connectTimeoutMs: 0 }),
    ];
    for (const make of bad) await expect(make()).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      ThreadsSubscriber.create('a\u0000b', { connection: broker }),
    ).rejects.toBeInstanceOf(InvalidTopicError);
    expect(broker.connections).toEqual({ publishers: 0, subscribers: 0 });
  });

  it('maxBufferedBytes bounds what the broker sends ahead of a reader that does not read', async () => {
    await using broker = await ThreadsBroker.create();
    await using subscriber = await ThreadsSubscriber.create('bytes', {
      connection: broker,
      maxBufferedBytes: 64 * 1024,
    });
    await using publisher = await ThreadsPublisher.create({
      connection: broker,
      maxInFlightMessages: 4,
    });
    let accepted = 0;
    const sending = (async () => {
      for (let i = 0; i < 64; i++) {
        await publisher.send('bytes', new Uint8Array(16 * 1024).fill(i));
        accepted++;
      }
    })();
    let last = -1;
    while (accepted !== last) {
      last = accepted;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // 4 in the subscriber's 64 KiB, 4 in the publisher's window: the sender stalls.
    expect(accepted).toBeLessThanOrEqual(9);
    const received: number[] = [];
    for await (const message of subscriber) {
      received.push(message[0]!);
      if (received.length === 64) break;
    }
    await sending;
    expect(received).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('connecting through the handle of a closed broker rejects with ClosedError', async () => {
    const broker = await ThreadsBroker.create();
    const handle = broker.handle();
    await broker.close();
    await expect(ThreadsSubscriber.create('t', { connection: handle })).rejects.toMatchObject({
      code: 'CLOSED',
    });
    await expect(ThreadsPublisher.create({ connection: handle })).rejects.toMatchObject({
      code: 'CLOSED',
    });
    expect(() => broker.handle()).toThrow(/closed/i);
  });
});
