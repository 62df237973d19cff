import { assertMessageSize, MessageTooLargeError } from '@proxystream/protocols';
import { InFlightWindow } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';

describe('assertMessageSize', () => {
  it('accepts a message at the limit and rejects one byte over with the sizes', () => {
    expect(() => assertMessageSize(new Uint8Array(10), 10)).not.toThrow();
    const error = (() => {
      try {
        assertMessageSize(new Uint8Array(11), 10);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', size: 11, limit: 10 });
  });
});

describe('InFlightWindow', () => {
  it('admits operations up to the count limit and queues the rest in order', async () => {
    const window = new InFlightWindow({ maxCount: 2, maxBytes: 1000 });
    expect(window.acquire(1)).toBeUndefined();
    expect(window.acquire(1)).toBeUndefined();
    const order: number[] = [];
    const third = window.acquire(1)?.then(() => order.push(3));
    const fourth = window.acquire(1)?.then(() => order.push(4));
    expect(third).toBeInstanceOf(Promise);
    expect(window.waiting).toBe(2);
    window.release(1);
    expect(window.waiting).toBe(1);
    window.release(1);
    expect(window.waiting).toBe(0);
    await Promise.all([third, fourth]);
    expect(order).toEqual([3, 4]);
    expect(window.count).toBe(2);
  });

  it('bounds bytes in flight but lets one oversized operation run alone', async () => {
    const window = new InFlightWindow({ maxCount: 100, maxBytes: 100 });
    expect(window.acquire(80)).toBeUndefined();
    const waiting = window.acquire(30);
    expect(waiting).toBeInstanceOf(Promise);
    window.release(80);
    await waiting;
    window.release(30);
    expect(window.acquire(500)).toBeUndefined();
    expect(window.acquire(1)).toBeInstanceOf(Promise);
  });

  it('release(bytes, count) finishes several operations at once', async () => {
    const window = new InFlightWindow({ maxCount: 3, maxBytes: 100 });
    for (let i = 0; i < 3; i++) expect(window.acquire(30)).toBeUndefined();
    const waiting = window.acquire(30);
    expect(waiting).toBeInstanceOf(Promise);
    window.release(60, 2);
    await waiting;
    expect(window.count).toBe(2);
    expect(window.acquire(50)).toBeInstanceOf(Promise);
  });

  it('drained() resolves once nothing is in flight', async () => {
    const window = new InFlightWindow({ maxCount: 1, maxBytes: 10 });
    window.acquire(1);
    let drained = false;
    const done = window.drained().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    window.release(1);
    await done;
    expect(drained).toBe(true);
  });
});
