import { MessageQueue, TimeoutError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import {
  assertAllReceived,
  assertNoneLost,
  collect,
  drain,
  labels,
  parallelSenders,
  uniqueTopic,
  within,
} from '../src/helpers.js';

describe('contract helpers', () => {
  it('collect times out on silence, not on total duration', async () => {
    const queue = new MessageQueue<number>();
    const feeding = (async () => {
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 40));
        queue.push(i);
      }
    })();
    // 5 items 40 ms apart take 200 ms in all, longer than the 100 ms inactivity limit.
    expect(await collect(queue, 5, { inactivityMs: 100 })).toEqual([0, 1, 2, 3, 4]);
    await feeding;
    await expect(collect(queue, 1, { inactivityMs: 50 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('collect reports an iteration that ends early', async () => {
    const queue = new MessageQueue<number>();
    queue.push(1);
    const collecting = collect(queue, 2, { inactivityMs: 1_000 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await queue.close();
    await expect(collecting).rejects.toThrow('iteration ended after 1 of 2 items');
  });

  it('drain returns what arrived before the silence', async () => {
    const queue = new MessageQueue<string>();
    queue.push('a');
    queue.push('b');
    expect(await drain(queue, 50)).toEqual(['a', 'b']);
  });

  it('assertAllReceived names missing and repeated messages', () => {
    expect(() => assertAllReceived(['a-0', 'a-1'], labels('a', 2))).not.toThrow();
    expect(() => assertAllReceived(['a-0', 'a-0'], labels('a', 2))).toThrow(
      /1 missing \(a-1\), 1 unexpected or repeated \(a-0\)/,
    );
    expect(() => assertNoneLost(['a-0', 'a-0', 'a-1'], labels('a', 2))).not.toThrow();
    expect(() => assertNoneLost(['a-0'], labels('a', 2))).toThrow(/1 of 2 messages lost/);
  });

  it('parallelSenders runs its loops concurrently, each in order', async () => {
    const seen: string[] = [];
    await parallelSenders(3, 3, async (sender, index) => {
      await Promise.resolve();
      seen.push(`${sender}:${index}`);
    });
    expect(seen).toHaveLength(9);
    expect(seen.slice(0, 3)).toEqual(['0:0', '1:0', '2:0']);
    for (let s = 0; s < 3; s++) {
      expect(seen.filter((item) => item.startsWith(`${s}:`))).toEqual([
        `${s}:0`,
        `${s}:1`,
        `${s}:2`,
      ]);
    }
  });

  it('uniqueTopic never repeats and within rejects a slow promise', async () => {
    const topics = new Set(Array.from({ length: 100 }, () => uniqueTopic('t')));
    expect(topics.size).toBe(100);
    await expect(within(new Promise(() => {}), 20, 'never')).rejects.toBeInstanceOf(TimeoutError);
  });
});
