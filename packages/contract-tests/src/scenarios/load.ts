import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import type { StreamModule } from '../stream-module.js';
import { sendAll } from './send-all.js';
import { type MemoryFigures, nextObjectWithin, pause, rssSampler, Tally } from './tally.js';
import { readerOptions, scenarioTopic } from './topics.js';

/** Options of {@link loadScenario}. */
export interface LoadScenarioOptions {
  descriptor: ShimDescriptor;
  /** Where the broker is. Default `process.env`. */
  env?: ShimEnvironment;
  stream: StreamModule;
  /** Objects sent. */
  events: number;
  /** Objects per batch. Default 100. */
  batchSize?: number;
  /** Longest silence of the consumer, in ms. Default 60 000. */
  inactivityMs?: number;
}

/** What {@link loadScenario} reports. */
export interface LoadFigures {
  scenario: 'load';
  shim: string;
  events: number;
  batchSize: number;
  received: number;
  /** Events never received. */
  lost: number;
  /** Events received twice. */
  duplicates: number;
  /** Events received after a later one. */
  reordered: number;
  sendRetries: number;
  /** `'done'` when the consumer read to the end of the stream, else `'timeout'`. */
  ended: 'done' | 'timeout';
  eventsPerSecond: number;
  durationMs: number;
  /** The process's memory through the run (producer and consumer share it). */
  rss: MemoryFigures;
  /** Times the sender waited for the reader. */
  progressWaits: number;
}

/**
 * Sends `events` objects through the shim while one consumer reads them, and counts what
 * arrived, in what order; samples the process's memory throughout.
 */
export async function loadScenario(options: LoadScenarioOptions): Promise<LoadFigures> {
  const { descriptor, stream, events } = options;
  const env = options.env ?? process.env;
  const batchSize = options.batchSize ?? 100;
  const inactivityMs = options.inactivityMs ?? 60_000;
  await descriptor.prepare?.(env);
  const topic = scenarioTopic(`load-${descriptor.name}`);
  const tally = new Tally(events);
  const consumer = new stream.StreamConsumer(
    await descriptor.subscriber(env, topic, readerOptions(descriptor, topic)),
    { topics: [topic] },
  );
  const producer = new stream.StreamProducer(await descriptor.publisher(env), { batchSize });
  const rss = rssSampler();
  const started = performance.now();
  let readerEnded = false;
  const reader = (async (): Promise<'done' | 'timeout'> => {
    try {
      for (;;) {
        const result = await nextObjectWithin(consumer, inactivityMs);
        if (result === 'timeout') return 'timeout';
        if (result.done === true) return 'done';
        tally.add(result.value);
      }
    } finally {
      readerEnded = true;
    }
  })();
  // A bounded lead over the reader, so the run measures a steady stream, not a backlog.
  const lead = 50 * batchSize;
  let progressWaits = 0;
  const retries = await sendAll({
    producer,
    topic,
    events,
    batchSize,
    throttle: async (next) => {
      while (next - tally.distinct - tally.duplicates > lead && !readerEnded) {
        progressWaits++;
        await pause(1);
      }
    },
  });
  const ending = await reader;
  const seconds = (performance.now() - started) / 1000;
  const memory = rss.stop();
  await consumer.close();
  await descriptor.cleanup?.(env, topic);
  return {
    scenario: 'load',
    shim: descriptor.name,
    events,
    batchSize,
    received: tally.distinct,
    lost: events - tally.distinct,
    duplicates: tally.duplicates,
    reordered: tally.reordered,
    sendRetries: retries,
    ended: ending,
    eventsPerSecond: Math.round(events / seconds),
    durationMs: Math.round(seconds * 1000),
    rss: memory,
    progressWaits,
  };
}
