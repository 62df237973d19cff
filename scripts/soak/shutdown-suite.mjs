// The shutdown cases every shim package runs (packages/shim-*/test/shutdown.test.ts): one body,
// registered with vitest for the shim adapters each package names.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shimAdapters } from './shims.mjs';
import {
  activeHandleCount,
  closeDuringBlockedNext,
  closeDuringBurst,
  handlesBackTo,
} from './shutdown.mjs';

const BURST = 2_000;

export function shutdownSuite({ stream, modules, names }) {
  const shims = shimAdapters(modules);
  const rejections = [];

  beforeAll(() => {
    process.on('unhandledRejection', (reason) => rejections.push(reason));
  });

  afterEach(() => {
    expect(rejections).toEqual([]);
  });

  describe('closing StreamProducer and StreamConsumer', () => {
    for (const name of names) {
      it(`${name}: close() during a burst of sends flushes what was sent before and refuses the rest, leaving no handle open`, async () => {
        const baseline = activeHandleCount();
        const figures = await closeDuringBurst({ shim: shims[name], stream, burst: BURST });
        console.info(JSON.stringify({ shim: name, ...figures }));
        // Sends 0 … BURST/2 came before close(): all accepted; the later ones are refused.
        expect(figures.resolved).toBe(BURST / 2 + 1);
        expect(figures.refusals).toEqual({ CLOSED: BURST / 2 - 1 });
        expect(await handlesBackTo(baseline)).toBeUndefined();
      });

      it(`${name}: close() during a blocked iteration ends it, leaving no handle open`, async () => {
        const baseline = activeHandleCount();
        const { result } = await closeDuringBlockedNext({ shim: shims[name], stream });
        expect(result.done).toBe(true);
        expect(await handlesBackTo(baseline)).toBeUndefined();
      });
    }
  });
}
