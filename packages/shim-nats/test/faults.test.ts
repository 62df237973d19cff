import * as stream from '@proxystream/stream';
import { describe, expect, it } from 'vitest';
import { killScenario, loadScenario, restartScenario } from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as nats from '../src/index.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill case forks
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
const RESTART_EVENTS = 10_000;
const KILL_EVENTS = 2_000;
const LOAD_EVENTS = 20_000;

const shims = shimAdapters({ nats });
const restart = () => restartBroker('nats');
const report = (figures: object) => console.info(JSON.stringify(figures));

describe('nats-server restarted in the middle of a stream', () => {
  it('jetstream: the stream keeps every event in order and the consumer reports what it did not get in order', async () => {
    const figures = await restartScenario({
      shim: shims.jetstream!,
      stream,
      restart,
      events: RESTART_EVENTS,
      inactivityMs: 30_000,
      batchSize: 10,
    });
    report(figures);
    expect(figures.restartMs).toBeGreaterThan(0);
    // The broker lost nothing: a new group reads every event, once, in order.
    expect(figures.stored).toEqual({
      kept: RESTART_EVENTS,
      missing: 0,
      duplicates: 0,
      reordered: 0,
    });
    // A batch in flight when the connection broke is redelivered only after ackWaitMs, after
    // later ones: StreamConsumer reports it as a gap and does not deliver it late (see
    // docs/reliability.md). Nothing goes unnoticed.
    expect(figures).toMatchObject({ unreported: 0, duplicates: 0, reordered: 0, ended: 'done' });
    expect(figures.recoveryMs).toBeDefined();
  });

  it('nats-core: the subscriber reconnects by itself and every loss is reported as a gap', async () => {
    const figures = await restartScenario({
      shim: shims['nats-core']!,
      stream,
      restart,
      events: RESTART_EVENTS,
      inactivityMs: 30_000,
    });
    report(figures);
    expect(figures.received + figures.missingReported).toBe(RESTART_EVENTS);
    expect(figures).toMatchObject({ unreported: 0, duplicates: 0, reordered: 0, ended: 'done' });
    expect(figures.recoveryMs).toBeDefined();
  });
});

describe('a consumer process killed with SIGKILL', () => {
  it('jetstream: a second consumer of the group receives everything the first had not moved past', async () => {
    const figures = await killScenario({
      shim: shims.jetstream!,
      shimModule: 'nats',
      stream,
      events: KILL_EVENTS,
      inactivityMs: 20_000,
    });
    report(figures);
    expect(figures.childDone).toBeGreaterThan(0);
    expect(figures.childDone).toBeLessThan(KILL_EVENTS);
    expect(figures).toMatchObject({ missing: 0, ended: 'done' });
  });
});

describe('load through JetStream', () => {
  it(`jetstream: ${LOAD_EVENTS} events arrive complete and in order`, async () => {
    const figures = await loadScenario({ shim: shims.jetstream!, stream, events: LOAD_EVENTS });
    report(figures);
    expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
  });
});
