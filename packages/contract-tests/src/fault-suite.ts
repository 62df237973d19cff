import { describe, expect, it } from 'vitest';

/** What a broker-restart scenario reports; the fields {@link faultSuite} checks. */
export interface RestartFigures {
  /** Distinct events the consumer received. */
  received: number;
  /** Events never received. */
  lost: number;
  /** Events received twice. */
  duplicates: number;
  /** Events received after a later one. */
  reordered: number;
  /** Events the consumer's gap detection reported missing. */
  missingReported: number;
  /** Events lost and not reported: `lost - missingReported`. */
  unreported: number;
  /** `MessagesLostError`s the consumer's `next()` threw (a fan-out subscriber's reported outages). */
  lossErrors: number;
  /** `'done'` when the consumer read to the end of the stream. */
  ended: string;
  /** What a new group reads again from the start; `undefined` where the broker cannot re-read. */
  stored: { kept: number; missing: number; duplicates: number; reordered: number } | undefined;
  /** Time the restart took, in ms. */
  restartMs: number | undefined;
  /** From the broker answering again to the first event sent after that arriving, in ms. */
  recoveryMs: number | undefined;
}

/** What a consumer-SIGKILL scenario reports; the fields {@link faultSuite} checks. */
export interface KillFigures {
  /** Events the killed consumer had finished with. */
  childDone: number;
  /** Events neither finished by the killed consumer nor received by the second one. */
  missing: number;
  /** `'done'` when the second consumer read to the end of the stream. */
  ended: string;
}

/** What a load scenario reports; the fields {@link faultSuite} checks. */
export interface LoadFigures {
  /** Events never received. */
  lost: number;
  /** Events received twice. */
  duplicates: number;
  /** Events received after a later one. */
  reordered: number;
  /** `'done'` when the consumer read to the end of the stream. */
  ended: string;
}

/**
 * The scenarios that drive a shim through a producer and a consumer (in this repository,
 * `scripts/soak/scenarios.mjs`, passed as its module namespace); this package runs no broker.
 */
export interface FaultScenarios<Shim, Module extends string> {
  /** Restarts the broker in the middle of a stream of `events` objects. */
  restartScenario(options: {
    shim: Shim;
    stream: unknown;
    restart: () => Promise<void>;
    events: number;
    batchSize?: number;
    inactivityMs?: number;
  }): Promise<RestartFigures>;
  /** Kills a consumer process with SIGKILL in the middle of a stream; a second one takes over. */
  killScenario(options: {
    shim: Shim;
    shimModule: Module;
    stream: unknown;
    events: number;
    inactivityMs?: number;
    /** Who reads after the kill: the shim's subscriber itself, or a `StreamConsumer` over it. */
    second?: 'subscriber' | 'stream';
  }): Promise<KillFigures>;
  /** Sends `events` objects as fast as the shim takes them. */
  loadScenario(options: { shim: Shim; stream: unknown; events: number }): Promise<LoadFigures>;
}

/**
 * What a shim must deliver to the application across a broker restart:
 * - `'nothing-lost'`: every event, once, in order;
 * - `'every-loss-reported'`: in order and without duplicates, every event it did not deliver
 *   reported as a sequence gap (`received + missingReported === events`), and the outage itself
 *   thrown by the consumer's `next()` as `MessagesLostError` (`lossErrors > 0`): a fan-out
 *   subscriber cannot know what it missed while disconnected, so the disconnect is the loss, and
 *   a lost end of stream is reported rather than waited for.
 */
export type RestartDelivery = 'nothing-lost' | 'every-loss-reported';

/**
 * What the broker must have kept across the restart, as a new group reads it again:
 * - `'every-event-once'`: every event, once, in order;
 * - `'every-event-at-least-once'`: every event in order, some maybe twice (a command replayed
 *   after the reconnect); checked only where the broker can be read again (not a list queue);
 * - `'not-checked'`: a broker that keeps nothing (fan-out).
 */
export type RestartStorage = 'every-event-once' | 'every-event-at-least-once' | 'not-checked';

/** One broker-restart case of {@link faultSuite}. */
export interface RestartCase {
  /** The shim adapter's name (a key of {@link FaultSuiteOptions.shims}). */
  shim: string;
  /** What reaches the application. Switching it is the one line that changes the expectation. */
  delivery: RestartDelivery;
  /** What the broker kept. */
  stored: RestartStorage;
  /** Events per batch. Default 1. */
  batchSize?: number;
  /**
   * With `'nothing-lost'`: most events that may arrive after later ones. An acknowledging broker
   * delivers a batch whose delivery the restart cut again after its redelivery time, after the
   * batches that overtook it; `StreamConsumer` delivers it late rather than losing it. Default 0.
   */
  maxReordered?: number;
}

/** Options of {@link faultSuite}. */
export interface FaultSuiteOptions<Shim, Module extends string> {
  /** The scenarios (`import * as scenarios from '…/scripts/soak/scenarios.mjs'`). */
  scenarios: FaultScenarios<Shim, Module>;
  /** `@proxystream/stream` (the sources in tests). */
  stream: unknown;
  /** The shim adapters by name. */
  shims: Readonly<Record<string, Shim>>;
  /** The shim package the killed consumer process loads (`'redis'`, `'nats'`, `'kafka'`). */
  shimModule: Module;
  /** Restarts the broker, keeping its data. */
  restartBroker(): Promise<void>;
  /** The broker-restart cases, under the `describe` titled `title`. */
  restart?: {
    title: string;
    cases: readonly RestartCase[];
    /** Events per case. Default 10 000. */
    events?: number;
    /** Longest silence of the consumer, in ms. Default 30 000. */
    inactivityMs?: number;
  };
  /** The shims whose consumer process is killed with SIGKILL. */
  kill?: {
    shims: readonly string[];
    /** Events per case. Default 2 000. */
    events?: number;
    /** Longest silence of the second consumer, in ms. Default 20 000. */
    inactivityMs?: number;
  };
  /** The load cases, under the `describe` titled `title`. */
  load?: {
    title: string;
    shims: readonly string[];
    /** Events per case. Default 20 000. */
    events?: number;
  };
  /** Where each case's figures go. Default: one JSON line on `console.info`. */
  report?(figures: object): void;
}

const STORED_PHRASE: Record<RestartStorage, string> = {
  'every-event-once': 'the broker keeps every event once, in order, and ',
  'every-event-at-least-once': 'the broker keeps every event at least once, and ',
  'not-checked': '',
};

const DELIVERY_PHRASE: Record<RestartDelivery, string> = {
  'nothing-lost': 'the consumer gets every event, once, in order',
  'every-loss-reported':
    'the consumer gets the events in order, reports as a gap every one it did not get, and next() throws MessagesLostError for the outage',
};

/**
 * Registers a shim package's fault cases, the reduced sizes of the soak run: broker restarts in
 * the middle of a stream (with the expectation each case declares), a consumer process killed
 * with SIGKILL (a second consumer of the group receives everything the first had not moved
 * past), and load (everything arrives, once, in order). Call it at the top level of the shim's
 * `faults.test.ts`. The cases restart a real broker: run them alone.
 *
 * @example
 * ```ts
 * faultSuite({
 *   scenarios, stream, shims: shimAdapters({ nats }), shimModule: 'nats',
 *   restartBroker: () => restartBroker('nats'),
 *   restart: {
 *     title: 'nats-server restarted in the middle of a stream',
 *     cases: [{ shim: 'jetstream', delivery: 'nothing-lost', stored: 'every-event-once', batchSize: 10 }],
 *   },
 * });
 * ```
 */
export function faultSuite<Shim, Module extends string>(
  options: FaultSuiteOptions<Shim, Module>,
): void {
  const { scenarios, stream } = options;
  const report = options.report ?? ((figures: object) => console.info(JSON.stringify(figures)));
  const shim = (name: string): Shim => {
    const found = options.shims[name];
    if (found === undefined) throw new Error(`no shim adapter named ${name}`);
    return found;
  };

  const restart = options.restart;
  if (restart !== undefined) {
    const events = restart.events ?? 10_000;
    describe(restart.title, () => {
      for (const { shim: name, delivery, stored, batchSize, maxReordered = 0 } of restart.cases) {
        const late = maxReordered > 0 ? ` but for at most ${maxReordered} redelivered late` : '';
        it(`${name}: ${STORED_PHRASE[stored]}${DELIVERY_PHRASE[delivery]}${late}`, async () => {
          const figures = await scenarios.restartScenario({
            shim: shim(name),
            stream,
            restart: () => options.restartBroker(),
            events,
            inactivityMs: restart.inactivityMs ?? 30_000,
            ...(batchSize === undefined ? {} : { batchSize }),
          });
          report(figures);
          expect(figures.restartMs).toBeGreaterThan(0);
          if (stored === 'every-event-once') {
            expect(figures.stored).toEqual({
              kept: events,
              missing: 0,
              duplicates: 0,
              reordered: 0,
            });
          } else if (stored === 'every-event-at-least-once' && figures.stored !== undefined) {
            expect(figures.stored).toMatchObject({ kept: events, missing: 0, reordered: 0 });
          }
          if (delivery === 'nothing-lost') {
            expect(figures).toMatchObject({ lost: 0, duplicates: 0, ended: 'done' });
            expect(figures.reordered).toBeLessThanOrEqual(maxReordered);
          } else {
            // A batch delivered again late (a read whose reply the restart cut) is reported as a
            // gap, never lost unseen: StreamConsumer does not deliver late batches.
            expect(figures.received + figures.missingReported).toBe(events);
            expect(figures).toMatchObject({
              unreported: 0,
              duplicates: 0,
              reordered: 0,
              ended: 'done',
            });
            // The restart broke the subscriber's connection: next() said so with a typed error.
            expect(figures.lossErrors).toBeGreaterThan(0);
          }
          // Objects sent after the restart arrived: the stream went on.
          expect(figures.recoveryMs).toBeDefined();
        });
      }
    });
  }

  const kill = options.kill;
  if (kill !== undefined) {
    const events = kill.events ?? 2_000;
    describe('a consumer process killed with SIGKILL', () => {
      for (const name of kill.shims) {
        for (const second of ['subscriber', 'stream'] as const) {
          const reader = second === 'stream' ? 'a StreamConsumer of' : 'a second consumer of';
          it(`${name}: ${reader} the group receives everything the first had not moved past`, async () => {
            const figures = await scenarios.killScenario({
              shim: shim(name),
              shimModule: options.shimModule,
              stream,
              events,
              inactivityMs: kill.inactivityMs ?? 20_000,
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

  const load = options.load;
  if (load !== undefined) {
    const events = load.events ?? 20_000;
    describe(load.title, () => {
      for (const name of load.shims) {
        it(`${name}: ${events} events arrive complete and in order`, async () => {
          const figures = await scenarios.loadScenario({ shim: shim(name), stream, events });
          report(figures);
          expect(figures).toMatchObject({ lost: 0, duplicates: 0, reordered: 0, ended: 'done' });
        });
      }
    });
  }
}
