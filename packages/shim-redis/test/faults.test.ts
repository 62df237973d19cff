import * as stream from '@proxystream/stream';
import { describe, expect, it } from 'vitest';
import { killScenario, loadScenario, restartScenario } from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as redis from '../src/index.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill cases fork
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
const RESTART_EVENTS = 10_000;
const KILL_EVENTS = 2_000;
const LOAD_EVENTS = 20_000;

const shims = shimAdapters({ redis });
const restart = () => restartBroker('redis');
const report = (figures: object) => console.info(JSON.stringify(figures));

describe('Redis restarted in the middle of a stream', () => {
  for (const name of ['redis-list', 'redis-streams']) {
    it(`${name}: the consumer gets the events in order, and reports any it did not get`, async () => {
      const figures = await restartScenario({
        shim: shims[name]!,
        stream,
        restart,
        events: RESTART_EVENTS,
        inactivityMs: 30_000,
        batchSize: 10,
      });
      report(figures);
      expect(figures.restartMs).toBeGreaterThan(0);
      // Redis kept every event (the list queue's reads consume, so only Streams can be re-read);
      // a command replayed after the reconnect may store a batch twice (at least once).
      if (figures.stored !== undefined) {
        expect(figures.stored).toMatchObject({ kept: RESTART_EVENTS, missing: 0, reordered: 0 });
      }
      // What reaches the application: no duplicate, nothing out of order, and a batch delivered
      // again late (a read whose reply the restart cut) is reported as a gap, never lost unseen
      // (see docs/reliability.md: StreamConsumer does not deliver late batches).
      expect(figures).toMatchObject({ unreported: 0, duplicates: 0, reordered: 0, ended: 'done' });
      expect(figures.recoveryMs).toBeDefined();
    });
  }

  it('redis-pubsub: the subscriber resubscribes by itself and every loss is reported as a gap', async () => {
    const figures = await restartScenario({
      shim: shims['redis-pubsub']!,
      stream,
      restart,
      events: RESTART_EVENTS,
      inactivityMs: 30_000,
    });
    report(figures);
    expect(figures.received + figures.missingReported).toBe(RESTART_EVENTS);
    expect(figures).toMatchObject({ unreported: 0, duplicates: 0, reordered: 0, ended: 'done' });
    // Objects sent after the restart arrived: the stream went on.
    expect(figures.recoveryMs).toBeDefined();
  });
});

describe('a consumer process killed with SIGKILL', () => {
  for (const name of ['redis-list', 'redis-streams']) {
    it(`${name}: a second consumer of the group receives everything the first had not moved past`, async () => {
      const figures = await killScenario({
        shim: shims[name]!,
        shimModule: 'redis',
        stream,
        events: KILL_EVENTS,
        inactivityMs: 20_000,
      });
      report(figures);
      expect(figures.childDone).toBeGreaterThan(0);
      expect(figures.childDone).toBeLessThan(KILL_EVENTS);
      expect(figures).toMatchObject({ missing: 0, ended: 'done' });
    });
  }
});

describe('load through the persistent Redis shims', () => {
  for (const name of ['redis-list', 'redis-streams']) {
    it(`${name}: ${LOAD_EVENTS} events arrive complete and in order`, async () => {
      const figures = await loadScenario({ shim: shims[name]!, stream, events: LOAD_EVENTS });
      report(figures);
      expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
    });
  }
});
