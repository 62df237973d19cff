/** Types of scenarios.mjs, for the TypeScript suites that import it. */
import type { ShimAdapter } from './shims.mjs';

/** The `@proxystream/stream` namespace (sources in tests, dist in the soak run). */
export type StreamModule = unknown;

export interface RestartFigures {
  scenario: 'broker restart';
  shim: string;
  topic: string;
  events: number;
  batchSize: number;
  /** The producer's `maxBatchesInFlight`. */
  batchesInFlight: number;
  received: number;
  lost: number;
  duplicates: number;
  duplicatesSkipped: number;
  reordered: number;
  missingReported: number;
  unreported: number;
  lossErrors: number;
  otherErrors: string[];
  sendRetries: number;
  ended: 'done' | 'timeout';
  /** What a new group reads again from the start (persistent shims but the list queue). */
  stored: { kept: number; missing: number; duplicates: number; reordered: number } | undefined;
  restartMs: number | undefined;
  recoveryMs: number | undefined;
  /** From the broker answering again to the first object received after that, whenever sent. */
  firstAfterUpMs: number | undefined;
  /** Objects sent when the broker answered again. */
  markIndex: number;
  durationMs: number;
}

export interface KillFigures {
  scenario: 'consumer SIGKILL';
  shim: string;
  second: 'subscriber' | 'stream';
  events: number;
  childDone: number;
  secondReceived: number;
  missing: number;
  duplicates: number;
  reordered: number;
  gapsReported: number;
  ended: 'done' | 'timeout';
  recoveryMs: number | undefined;
}

export interface LoadFigures {
  scenario: 'load';
  shim: string;
  events: number;
  batchSize: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  sendRetries: number;
  ended: 'done' | 'timeout';
  eventsPerSecond: number;
  durationMs: number;
  rss: {
    samples: number;
    startMiB: number;
    maxMiB: number;
    endMiB: number;
    secondQuarterPeakMiB: number;
    lastQuarterPeakMiB: number;
    heapSecondQuarterPeakMiB: number;
    heapLastQuarterPeakMiB: number;
  };
}

export function restartScenario(options: {
  shim: ShimAdapter;
  stream: StreamModule;
  restart: () => Promise<void>;
  events: number;
  batchSize?: number;
  /** Options of the StreamProducer (`maxBatchesInFlight` > 1: that many batches kept in flight). */
  producerOptions?: { maxBatchesInFlight?: number };
  restartAt?: number;
  resumeAt?: number;
  inactivityMs?: number;
}): Promise<RestartFigures>;

export function killScenario(options: {
  shim: ShimAdapter;
  shimModule: 'redis' | 'nats' | 'kafka';
  stream: StreamModule;
  events: number;
  killAfter?: number;
  second?: 'subscriber' | 'stream';
  inactivityMs?: number;
}): Promise<KillFigures>;

export function loadScenario(options: {
  shim: ShimAdapter;
  stream: StreamModule;
  events: number;
  batchSize?: number;
  inactivityMs?: number;
}): Promise<LoadFigures>;
