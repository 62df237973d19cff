import type { SequenceGapError } from '@proxystream/protocols';
import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import type { ContractProducerOptions, StreamModule } from '../stream-module.js';
import { rawReader } from './raw-reader.js';
import { sendAll } from './send-all.js';
import { nextObjectWithin, pause, Tally } from './tally.js';
import { readerOptions, scenarioTopic } from './topics.js';

/** Options of {@link restartScenario}. */
export interface RestartScenarioOptions {
  descriptor: ShimDescriptor;
  /** Where the broker is. Default `process.env`. */
  env?: ShimEnvironment;
  stream: StreamModule;
  /** Restarts the broker, keeping its data (or fails a cluster's node over); given the scenario's topic. */
  restart: (topic: string) => Promise<void>;
  /** Objects sent. */
  events: number;
  /** Objects per batch. Default 1. */
  batchSize?: number;
  /** More producer options (`maxBatchesInFlight`). */
  producerOptions?: Pick<ContractProducerOptions, 'maxBatchesInFlight'>;
  /** Index at which the restart starts. Default a third of `events`. */
  restartAt?: number;
  /** Index at which the sender waits for the broker to be back. Default two thirds. */
  resumeAt?: number;
  /** Longest silence of the consumer, in ms. Default 60 000. */
  inactivityMs?: number;
}

/** What a new group reads again from the start of the topic after the run. */
export interface StoredFigures {
  kept: number;
  missing: number;
  duplicates: number;
  reordered: number;
}

/** What {@link restartScenario} reports. */
export interface RestartFigures {
  scenario: 'broker restart';
  shim: string;
  topic: string;
  events: number;
  batchSize: number;
  batchesInFlight: number;
  /** Distinct events the consumer received. */
  received: number;
  /** Events never received. */
  lost: number;
  /** Events received twice. */
  duplicates: number;
  /** Duplicate batches the consumer's gap detection skipped. */
  duplicatesSkipped: number;
  /** Events received after a later one. */
  reordered: number;
  /** Events the consumer's gap detection reported missing. */
  missingReported: number;
  /** Events lost and not reported: `lost - missingReported`. */
  unreported: number;
  /** `MessagesLostError`s the consumer's `next()` threw (a fan-out subscriber's reported outages). */
  lossErrors: number;
  /** Other errors of the consumer (the first five). */
  otherErrors: string[];
  /** Sends refused and retried. */
  sendRetries: number;
  /** `'done'` when the consumer read to the end of the stream, else `'timeout'`. */
  ended: 'done' | 'timeout';
  /** What a new group reads again; `undefined` where the broker cannot be re-read. */
  stored: StoredFigures | undefined;
  /** Time the restart took, in ms. */
  restartMs: number | undefined;
  /** From the broker answering again to the first event sent after that arriving, in ms. */
  recoveryMs: number | undefined;
  /** From the broker answering again to the first event arriving, in ms. */
  firstAfterUpMs: number | undefined;
  /** Index of the first event sent after the broker answered again. */
  markIndex: number;
  durationMs: number;
}

/**
 * Restarts the broker in the middle of a stream of `events` objects: `StreamProducer` → shim →
 * `StreamConsumer`. Persistent shims must lose nothing; fan-out shims must report every loss
 * (a `MessagesLostError` from `next()` for the outage, a sequence gap for what it cost).
 */
export async function restartScenario(options: RestartScenarioOptions): Promise<RestartFigures> {
  const { descriptor, stream, restart, events } = options;
  const env = options.env ?? process.env;
  const batchSize = options.batchSize ?? 1;
  const batchesInFlight = options.producerOptions?.maxBatchesInFlight ?? 1;
  const restartAt = options.restartAt ?? Math.floor(events / 3);
  const resumeAt = options.resumeAt ?? Math.floor((2 * events) / 3);
  const inactivityMs = options.inactivityMs ?? 60_000;
  const { persistent, fanOut } = descriptor.capabilities;
  await descriptor.prepare?.(env);
  const topic = scenarioTopic(`faults-${descriptor.name}`);
  const tally = new Tally(events);
  let missingReported = 0;
  let duplicatesSkipped = 0;
  let lossErrors = 0;
  const otherErrors: unknown[] = [];
  const consumer = new stream.StreamConsumer(
    await descriptor.subscriber(env, topic, readerOptions(descriptor, topic)),
    {
      topics: [topic],
      onGap: (gap: SequenceGapError) => {
        if (gap.received > gap.expected) {
          missingReported += (gap.received - gap.expected) * batchSize;
        } else duplicatesSkipped++;
      },
    },
  );
  const producer = new stream.StreamProducer(await descriptor.publisher(env), {
    batchSize,
    maxBatchesInFlight: batchesInFlight,
  });
  const started = performance.now();
  let sent = 0;
  let restartMs: number | undefined;
  let upAt: number | undefined;
  let markIndex = Number.POSITIVE_INFINITY;
  let recoveryMs: number | undefined;
  let firstAfterUpMs: number | undefined;
  let restarting: Promise<void> | undefined;
  let progress = () => {};

  const startRestart = () => {
    const down = performance.now();
    restarting = restart(topic).then(() => {
      upAt = performance.now();
      restartMs = Math.round(upAt - down);
      markIndex = sent;
    });
  };
  // The restart starts once a third is sent; the sender goes on during it (those sends wait in
  // the clients or fail and are retried) and holds at two thirds until the broker is back, so the
  // last third is sent to a restarted broker. Fan-out shims drop what a slow reader cannot hold:
  // the sender keeps at most a window ahead of the reader so that the only losses are the
  // restart's; lost objects never arrive, so after 200 ms without progress it goes on.
  const window = 2_000;
  const throttle = async (next: number) => {
    if (restarting === undefined && next >= restartAt) startRestart();
    if (next >= resumeAt && restarting !== undefined) await restarting;
    if (persistent) return;
    while (next - (tally.distinct + missingReported) > window) {
      const moved = new Promise<void>((resolve) => {
        progress = resolve;
      });
      if ((await Promise.race([moved, pause(200).then(() => 'idle')])) === 'idle') return;
    }
  };

  const reader = (async (): Promise<'done' | 'timeout'> => {
    for (;;) {
      let result: Awaited<ReturnType<typeof nextObjectWithin>>;
      try {
        result = await nextObjectWithin(consumer, inactivityMs);
      } catch (error) {
        if ((error as { code?: unknown } | undefined)?.code === 'MESSAGES_LOST') {
          lossErrors++;
          continue;
        }
        otherErrors.push(error);
        if (otherErrors.length > 100) throw error;
        await pause(50);
        continue;
      }
      if (result === 'timeout') return 'timeout';
      if (result.done === true) return 'done';
      const index = result.value as number;
      tally.add(index);
      progress();
      if (firstAfterUpMs === undefined && upAt !== undefined) {
        firstAfterUpMs = Math.round(performance.now() - upAt);
      }
      if (recoveryMs === undefined && upAt !== undefined && index >= markIndex) {
        recoveryMs = Math.round(performance.now() - upAt);
      }
    }
  })();

  const retries = await sendAll({
    producer,
    topic,
    events,
    batchSize,
    throttle,
    batchesInFlight,
    onSent: (next) => {
      sent = next;
    },
  });
  const ending = await reader;
  await restarting;
  await consumer.close();
  // What the broker kept, read again from the start by a new group: only where a new group
  // reads the topic from its start (not a list queue, whose reads consume, nor fan-out shims
  // that keep nothing).
  const stored = persistent && fanOut ? await reread(options, env, topic, inactivityMs) : undefined;
  await descriptor.cleanup?.(env, topic);
  const lost = events - tally.distinct;
  return {
    scenario: 'broker restart',
    shim: descriptor.name,
    topic,
    events,
    batchSize,
    batchesInFlight,
    received: tally.distinct,
    lost,
    duplicates: tally.duplicates,
    duplicatesSkipped,
    reordered: tally.reordered,
    missingReported,
    unreported: lost - missingReported,
    lossErrors,
    otherErrors: otherErrors.map(String).slice(0, 5),
    sendRetries: retries,
    ended: ending,
    stored,
    restartMs,
    recoveryMs,
    firstAfterUpMs,
    markIndex,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Reads `topic` from its start in a new group: how many objects the broker kept, in what order. */
async function reread(
  { descriptor, stream, events }: RestartScenarioOptions,
  env: ShimEnvironment,
  topic: string,
  inactivityMs: number,
): Promise<StoredFigures> {
  const tally = new Tally(events);
  const source = rawReader(
    await descriptor.subscriber(env, topic, { group: `reread-${topic}` }),
    stream,
  );
  while (tally.distinct < events) {
    const result = await nextObjectWithin(source, inactivityMs);
    if (result === 'timeout' || result.done === true) break;
    if (result.value !== undefined) tally.add(result.value);
  }
  await source.close();
  return {
    kept: tally.distinct,
    missing: events - tally.distinct,
    duplicates: tally.duplicates,
    reordered: tally.reordered,
  };
}
