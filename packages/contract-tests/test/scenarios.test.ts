import type { ShimDescriptor } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';
import { resolveChildModules, sendAll, Tally } from '../src/scenarios/index.js';
import type { ContractProducer } from '../src/stream-module.js';

describe('Tally', () => {
  it('counts distinct, repeated and reordered indexes', () => {
    const tally = new Tally(5);
    for (const index of [0, 2, 1, 2, 4]) tally.add(index);
    expect(tally).toMatchObject({ distinct: 4, duplicates: 1, reordered: 1 });
  });

  it('refuses an index that was never sent', () => {
    expect(() => new Tally(3).add(3)).toThrow(/never sent/);
    expect(() => new Tally(3).add('x')).toThrow(/never sent/);
  });
});

describe('sendAll', () => {
  /** A producer that refuses the sends numbered in `refused` (counting every call). */
  function flakyProducer(refused: ReadonlySet<number>) {
    const accepted: unknown[] = [];
    let calls = 0;
    const closed: unknown[] = [];
    const producer: ContractProducer = {
      async send(_topic, object) {
        if (refused.has(calls++)) throw new Error('refused');
        accepted.push(object);
      },
      async close(options) {
        closed.push(options);
      },
    };
    return { producer, accepted, closed };
  }

  it('sends every index once, in order, and ends the topic', async () => {
    const { producer, accepted, closed } = flakyProducer(new Set());
    const retries = await sendAll({ producer, topic: 't', events: 5, batchSize: 1 });
    expect(retries).toBe(0);
    expect(accepted).toEqual([0, 1, 2, 3, 4]);
    expect(closed).toEqual([{ topics: ['t'] }]);
  });

  it('sends a refused batch again from its first object', async () => {
    // Batches of 2: the fourth call (index 3, second of the batch [2, 3]) is refused.
    const { producer, accepted } = flakyProducer(new Set([3]));
    const retries = await sendAll({ producer, topic: 't', events: 4, batchSize: 2 });
    expect(retries).toBe(1);
    expect(accepted).toEqual([0, 1, 2, 2, 3]);
  });
});

describe('resolveChildModules', () => {
  it('says to build first when a package cannot be resolved', () => {
    const descriptor = { packageName: '@proxystream/no-such-shim' } as ShimDescriptor;
    expect(() => resolveChildModules(descriptor, import.meta.url)).toThrow(/pnpm build/);
  });
});
