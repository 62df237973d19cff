import * as stream from '@proxystream/stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { killScenario, loadScenario, restartScenario } from '../../../scripts/soak/scenarios.mjs';
import { restartBroker, shimAdapters } from '../../../scripts/soak/shims.mjs';
import * as kafka from '../src/index.js';
import { assertKafkaRunning } from './kafka-env.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources. The kill case forks
// scripts/soak/consumer-child.mjs, which runs on the built packages (CI builds before testing).
const RESTART_EVENTS = 10_000;
const KILL_EVENTS = 2_000;
const LOAD_EVENTS = 20_000;

const shims = shimAdapters({ kafka });
const report = (figures: object) => console.info(JSON.stringify(figures));

beforeAll(assertKafkaRunning);

describe('Kafka restarted in the middle of a stream', () => {
  it('kafka: nothing is lost, duplicated or reordered (the data dir survives the restart)', async () => {
    const figures = await restartScenario({
      shim: shims.kafka!,
      stream,
      restart: () => restartBroker('kafka'),
      events: RESTART_EVENTS,
      inactivityMs: 30_000,
      batchSize: 10,
    });
    report(figures);
    expect(figures.restartMs).toBeGreaterThan(0);
    // Kafka kept every event, once, in order (read again by a new group) …
    expect(figures.stored).toEqual({
      kept: RESTART_EVENTS,
      missing: 0,
      duplicates: 0,
      reordered: 0,
    });
    // … and the consumer group got them all, in order: the subscriber resumes from its position.
    expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
    expect(figures.recoveryMs).toBeDefined();
  });
});

describe('a consumer process killed with SIGKILL', () => {
  it('kafka: a second consumer of the group receives everything the first had not moved past', async () => {
    const figures = await killScenario({
      shim: shims.kafka!,
      shimModule: 'kafka',
      stream,
      events: KILL_EVENTS,
      inactivityMs: 30_000,
    });
    report(figures);
    expect(figures.childDone).toBeGreaterThan(0);
    expect(figures.childDone).toBeLessThan(KILL_EVENTS);
    expect(figures).toMatchObject({ missing: 0, ended: 'done' });
  });
});

describe('load through Kafka', () => {
  it(`kafka: ${LOAD_EVENTS} events arrive complete and in order`, async () => {
    const figures = await loadScenario({ shim: shims.kafka!, stream, events: LOAD_EVENTS });
    report(figures);
    expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
  });
});
