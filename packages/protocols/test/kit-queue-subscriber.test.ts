import { MessagesLostError } from '@proxystream/protocols';
import { QueueSubscriber, type QueueSubscriberOptions } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';

const text = new TextEncoder();
const read = new TextDecoder();

/** The smallest shim: messages pushed by the test, a release that counts. */
class TestSubscriber extends QueueSubscriber<string> {
  released = 0;
  constructor(options: QueueSubscriberOptions = {}) {
    super(options);
  }
  deliver(message: string): boolean {
    return this.push(message);
  }
  drop(count = 1): void {
    this.lose(
      'overflow',
      (dropped) => new MessagesLostError(`${dropped} message(s) dropped`),
      count,
    );
  }
  disconnect(): void {
    this.lose('disconnect', () => new MessagesLostError('connection lost'));
  }
  crash(error: Error): void {
    this.fail(error);
  }
  get waiting(): number {
    return this.buffered;
  }
  protected taken(item: string): Uint8Array {
    return text.encode(item);
  }
  protected release(): void {
    this.released++;
  }
}

async function nextText(subscriber: TestSubscriber): Promise<string | undefined> {
  const result = await subscriber.next();
  return result.done === true ? undefined : read.decode(result.value);
}

describe('QueueSubscriber', () => {
  it('rejects next() once at the place of a loss, counts the drops, then goes on', async () => {
    const subscriber = new TestSubscriber();
    subscriber.deliver('a');
    subscriber.drop();
    subscriber.drop(2);
    subscriber.deliver('b');
    subscriber.drop();
    expect(subscriber.waiting).toBe(2);
    expect(await nextText(subscriber)).toBe('a');
    await expect(subscriber.next()).rejects.toThrow('3 message(s) dropped');
    expect(await nextText(subscriber)).toBe('b');
    const last = await subscriber.next().catch((error: unknown) => error);
    expect(last).toBeInstanceOf(MessagesLostError);
    expect((last as MessagesLostError).message).toBe('1 message(s) dropped');
    expect(subscriber.closed).toBe(false);
    await subscriber.close();
  });

  it('keeps losses of different kinds apart and calls onLoss once when each begins', async () => {
    const reported: string[] = [];
    const subscriber = new TestSubscriber({
      onLoss: (error) => {
        reported.push(error.message);
        throw new Error('a throwing callback is ignored');
      },
    });
    subscriber.drop();
    subscriber.drop();
    subscriber.disconnect();
    expect(reported).toEqual(['1 message(s) dropped', 'connection lost']);
    await expect(subscriber.next()).rejects.toThrow('2 message(s) dropped');
    await expect(subscriber.next()).rejects.toThrow('connection lost');
    await subscriber.close();
  });

  it('ends a pending next() on close, releases once, and refuses later pushes', async () => {
    const subscriber = new TestSubscriber();
    const pending = subscriber.next();
    await subscriber.close();
    await subscriber.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(subscriber.released).toBe(1);
    expect(subscriber.deliver('late')).toBe(false);
  });

  it('closes on break, on an aborted signal and with await using', async () => {
    const broken = new TestSubscriber();
    broken.deliver('x');
    for await (const _ of broken) break;
    expect(broken.closed).toBe(true);
    expect(broken.released).toBe(1);

    const controller = new AbortController();
    const aborted = new TestSubscriber({ signal: controller.signal });
    const pending = aborted.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    await Promise.resolve();
    expect(aborted.released).toBe(1);

    let disposed: TestSubscriber | undefined;
    {
      await using scoped = new TestSubscriber();
      disposed = scoped;
    }
    expect(disposed.closed).toBe(true);
    expect(disposed.released).toBe(1);
  });

  it('delivers queued messages before a failure', async () => {
    const subscriber = new TestSubscriber();
    subscriber.deliver('a');
    subscriber.crash(new Error('broker gone'));
    expect(await nextText(subscriber)).toBe('a');
    await expect(subscriber.next()).rejects.toThrow('broker gone');
  });
});
