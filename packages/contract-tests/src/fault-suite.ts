import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';
import type { RestartBroker } from './options.js';
import { killScenario, resolveChildModules } from './scenarios/kill.js';
import { loadScenario } from './scenarios/load.js';
import { restartScenario } from './scenarios/restart.js';
import type { StreamModule } from './stream-module.js';

/**
 * What a shim must deliver to the application across a broker restart, from its capabilities:
 * - `'nothing-lost'` (persistent shims): every event, once, in order (but for the
 *   `maxReordered` its descriptor's `restart` allows);
 * - `'every-loss-reported'` (fan-out shims that keep nothing): in order and without duplicates,
 *   every event it did not deliver reported as a sequence gap (`received + missingReported ===
 *   events`), and the outage itself thrown by the consumer's `next()` as `MessagesLostError`
 *   (`lossErrors > 0`): the loss rule of fan-out subscribers.
 */
export type RestartDelivery = 'nothing-lost' | 'every-loss-reported';

/** Options of {@link faultSuite}. */
export interface FaultSuiteOptions {
  /** `@proxystream/stream` (the sources in tests): `import * as stream from '@proxystream/stream'`. */
  stream: StreamModule;
  /** Restarts a descriptor's broker, keeping its data (`restartLocalBroker`). */
  restartBroker: RestartBroker;
  /** Where the brokers are (also given to the kill case's consumer process). Default `process.env`. */
  env?: ShimEnvironment;
  /**
   * Where the kill case's consumer process resolves the built `<packageName>/testing` and
   * `@proxystream/stream` from: pass the test file's `import.meta.url`. Default: the current
   * directory.
   */
  resolveFrom?: string | URL;
  /** The broker-restart cases (every descriptor with a broker); `false` to leave them out. */
  restart?: false | { events?: number; inactivityMs?: number };
  /** The consumer-kill cases (acknowledging shims with groups); `false` to leave them out. */
  kill?: false | { events?: number; inactivityMs?: number };
  /** The load cases (persistent shims); `false` to leave them out. */
  load?: false | { events?: number };
  /** Where each case's figures go. Default: one JSON line on `console.info`. */
  report?(figures: object): void;
}

/** The settings one restart case needs (shared with `streamContract`). */
export interface RestartCaseSettings {
  stream: StreamModule;
  restartBroker: RestartBroker;
  env: ShimEnvironment;
  events: number;
  inactivityMs: number;
  report(figures: object): void;
}

const reportLine = (figures: object) => console.info(JSON.stringify(figures));

/** Registers the broker-restart case of one descriptor, its expectation from its capabilities. */
export function restartCase(descriptor: ShimDescriptor, settings: RestartCaseSettings): void {
  const broker = descriptor.broker;
  if (broker === undefined) return;
  const { persistent, fanOut } = descriptor.capabilities;
  const delivery: RestartDelivery = persistent ? 'nothing-lost' : 'every-loss-reported';
  const stored = descriptor.restart?.stored ?? 'every-event-once';
  // Only where a new group reads the topic from its start: not a list queue, whose reads consume.
  const reread = persistent && fanOut;
  const maxReordered = persistent ? (descriptor.restart?.maxReordered ?? 0) : 0;
  const { events } = settings;
  const title = !persistent
    ? 'the consumer gets the events in order, reports as a gap every one it did not get, and next() throws MessagesLostError for the outage'
    : `${reread ? `the broker keeps every event ${stored === 'every-event-once' ? 'once, in order' : 'at least once'}, and ` : ''}the consumer gets every event, once, in order${maxReordered > 0 ? ` but for at most ${maxReordered} redelivered late` : ''}`;
  it(`${descriptor.name}: ${title}`, async () => {
    const figures = await restartScenario({
      descriptor,
      env: settings.env,
      stream: settings.stream,
      restart: () => settings.restartBroker(broker, settings.env),
      events,
      inactivityMs: settings.inactivityMs,
      batchSize: persistent ? 10 : 1,
    });
    settings.report(figures);
    expect(figures.restartMs).toBeGreaterThan(0);
    if (reread && stored === 'every-event-once') {
      expect(figures.stored).toEqual({ kept: events, missing: 0, duplicates: 0, reordered: 0 });
    } else if (reread) {
      expect(figures.stored).toMatchObject({ kept: events, missing: 0, reordered: 0 });
    }
    if (delivery === 'nothing-lost') {
      expect(figures).toMatchObject({ lost: 0, duplicates: 0, ended: 'done' });
      expect(figures.reordered).toBeLessThanOrEqual(maxReordered);
    } else {
      // A batch delivered again late (a read whose reply the restart cut) is reported as a
      // gap, never lost unseen: StreamConsumer does not deliver late batches.
      expect(figures.received + figures.missingReported).toBe(events);
      expect(figures).toMatchObject({ unreported: 0, duplicates: 0, reordered: 0, ended: 'done' });
      // The restart broke the subscriber's connection: next() said so with a typed error.
      expect(figures.lossErrors).toBeGreaterThan(0);
    }
    // Objects sent after the restart arrived: the stream went on.
    expect(figures.recoveryMs).toBeDefined();
  });
}

/**
 * Registers the fault cases of a shim package's descriptors, the reduced sizes of the soak run
 * (`scripts/soak/run.mjs`), each chosen by capabilities: a broker restart in the middle of a
 * stream (every shim with a broker: persistent ones lose nothing, fan-out ones report every
 * loss), a consumer process killed with SIGKILL (acknowledging shims with groups: a second
 * consumer of the group receives everything the first had not moved past), and load
 * (persistent shims: everything arrives, once, in order). The cases restart a real broker: run
 * the file alone. The kill cases' consumer process runs on the built packages (`pnpm build`).
 *
 * @example
 * ```ts
 * import { faultSuite, restartLocalBroker } from '@proxystream/contract-tests';
 * import { descriptors } from '@proxystream/shim-nats/testing';
 * import * as stream from '@proxystream/stream';
 *
 * faultSuite(descriptors, { stream, restartBroker: restartLocalBroker, resolveFrom: import.meta.url });
 * ```
 */
export function faultSuite(
  descriptors: readonly ShimDescriptor[],
  options: FaultSuiteOptions,
): void {
  const { stream } = options;
  const env = options.env ?? process.env;
  const report = options.report ?? reportLine;

  const restart = options.restart ?? {};
  const restartable = descriptors.filter((descriptor) => descriptor.broker !== undefined);
  if (restart !== false && restartable.length > 0) {
    describe('the broker restarted in the middle of a stream', () => {
      for (const descriptor of restartable) {
        restartCase(descriptor, {
          stream,
          restartBroker: options.restartBroker,
          env,
          events: restart.events ?? 10_000,
          inactivityMs: restart.inactivityMs ?? 30_000,
          report,
        });
      }
    });
  }

  const kill = options.kill ?? {};
  const killable = descriptors.filter(
    ({ capabilities }) => capabilities.acknowledged && capabilities.competingConsumers,
  );
  if (kill !== false && killable.length > 0) {
    const events = kill.events ?? 2_000;
    describe('a consumer process killed with SIGKILL', () => {
      for (const descriptor of killable) {
        for (const second of ['subscriber', 'stream'] as const) {
          const reader = second === 'stream' ? 'a StreamConsumer of' : 'a second consumer of';
          it(`${descriptor.name}: ${reader} the group receives everything the first had not moved past`, async () => {
            const figures = await killScenario({
              descriptor,
              env,
              stream,
              child: resolveChildModules(descriptor, options.resolveFrom),
              events,
              inactivityMs: kill.inactivityMs ?? 30_000,
              second,
            });
            report(figures);
            expect(figures.childDone).toBeGreaterThan(0);
            expect(figures.childDone).toBeLessThan(events);
            expect(figures).toMatchObject({ missing: 0, ended: 'done' });
          });
        }
      }
    });
  }

  const load = options.load ?? {};
  const loadable = descriptors.filter(({ capabilities }) => capabilities.persistent);
  if (load !== false && loadable.length > 0) {
    const events = load.events ?? 20_000;
    describe('load', () => {
      for (const descriptor of loadable) {
        it(`${descriptor.name}: ${events} events arrive complete and in order`, async () => {
          const figures = await loadScenario({ descriptor, env, stream, events });
          report(figures);
          expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
        });
      }
    });
  }
}
