import { MessageQueue } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';

describe('MessageQueue', () => {
  it('yields pushed items in order', async () => {
    const queue = new MessageQueue<number>();
    queue.push(1);
    queue.push(2);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
  });

  it('hands an item straight to a pending next()', async () => {
    const queue = new MessageQueue<string>();
    const pending = queue.next();
    queue.push('a');
    expect(await pending).toEqual({ value: 'a', done: false });
    expect(queue.size).toBe(0);
  });

  it('close() ends a pending next() and drops buffered items', async () => {
    const queue = new MessageQueue<number>();
    const pending = queue.next();
    await queue.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(queue.push(3)).toBe(false);
    expect(await queue.next()).toMatchObject({ done: true });
  });

  it('runs onClose once however often it is closed', async () => {
    let closed = 0;
    const queue = new MessageQueue<number>({ onClose: () => void closed++ });
    await Promise.all([queue.close(), queue.close(), queue.return()]);
    expect(closed).toBe(1);
  });

  it('an aborted signal closes the queue', async () => {
    const controller = new AbortController();
    let closed = false;
    const queue = new MessageQueue<number>({
      signal: controller.signal,
      onClose: () => {
        closed = true;
      },
    });
    const pending = queue.next();
    controller.abort();
    expect(await pending).toMatchObject({ done: true });
    expect(closed).toBe(true);
  });

  it('fail() delivers buffered items before the error', async () => {
    const queue = new MessageQueue<number>();
    queue.push(1);
    queue.fail(new Error('boom'));
    expect(await queue.next()).toEqual({ value: 1, done: false });
    await expect(queue.next()).rejects.toThrow('boom');
  });

  it('pushWait waits while the queue is full and resumes when an item is taken', async () => {
    const queue = new MessageQueue<number>({ capacity: 2 });
    await queue.pushWait(1);
    await queue.pushWait(2);
    let third = false;
    const waiting = queue.pushWait(3).then(() => {
      third = true;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(queue.isFull).toBe(true);
    await queue.next();
    await waiting;
    expect(third).toBe(true);
    expect([(await queue.next()).value, (await queue.next()).value]).toEqual([2, 3]);
  });

  it('pushWait resolves false when the queue closes while it waits', async () => {
    const queue = new MessageQueue<number>({ capacity: 1 });
    queue.push(1);
    const waiting = queue.pushWait(2);
    await queue.close();
    expect(await waiting).toBe(false);
  });

  it('break in for await closes the queue', async () => {
    const queue = new MessageQueue<number>();
    queue.push(1);
    queue.push(2);
    for await (const item of queue) {
      expect(item).toBe(1);
      break;
    }
    expect(queue.isClosed).toBe(true);
  });

  it('keeps order across a long stream that compacts its buffer', async () => {
    const queue = new MessageQueue<number>();
    for (let i = 0; i < 5000; i++) queue.push(i);
    for (let i = 0; i < 5000; i++) expect((await queue.next()).value).toBe(i);
  });
});
