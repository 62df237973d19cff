import type { Contender, PipeOptions } from './pipe.js';
import { type Summary, summarize } from './stats.js';
import { now, payload, sendWindowed, waitFor, withDeadline } from './timing.js';

/** A contender that cannot run here, with the reason shown in the report. */
export interface Unavailable {
  readonly name: string;
  readonly kind: 'raw' | 'stream';
  readonly unavailable: string;
}

export type Entry = Contender | Unavailable;

export const isUnavailable = (entry: Entry): entry is Unavailable => 'unavailable' in entry;

/** One timed throughput run. */
export interface ThroughputSample {
  readonly seconds: number;
  readonly count: number;
}

/** Longest silence while waiting for the receiving end before a run counts as failed (messages lost). */
const STALL_MS = 5000;

/**
 * Longest a run (opening its pipe included) may take before it counts as failed: far above the
 * longest healthy one (a Kafka group join that waits out a 6 s session timeout, then seconds of
 * sends), so that only a broker that stopped answering trips it.
 */
export const RUN_DEADLINE_MS = 120_000;

/**
 * Opens a pipe, sends a warm-up, then times `count` payloads of `size` bytes from the first send
 * to the last payload received, with `window` sends in flight; fails after
 * {@link RUN_DEADLINE_MS}.
 */
export function timeThroughput(
  contender: Contender,
  options: PipeOptions & { count: number; window: number },
): Promise<ThroughputSample> {
  return withDeadline(timedRun(contender, options), RUN_DEADLINE_MS, 'run');
}

async function timedRun(
  contender: Contender,
  options: PipeOptions & { count: number; window: number },
): Promise<ThroughputSample> {
  const data = payload(options.size);
  const pipe = await contender.open({ ...options, inFlight: options.inFlight ?? options.window });
  try {
    const batch = options.batch;
    const warm = Math.max(batch, Math.ceil(Math.min(200, options.count / 5) / batch) * batch);
    await sendWindowed(warm, options.window, () => pipe.send(data));
    await pipe.finish();
    await waitFor(
      () => pipe.received >= warm,
      () => pipe.received,
      STALL_MS,
      'warm-up',
    );
    const target = warm + options.count;
    const start = now();
    await sendWindowed(options.count, options.window, () => pipe.send(data));
    await pipe.finish();
    await waitFor(
      () => pipe.received >= target,
      () => pipe.received,
      STALL_MS,
      `received ${pipe.received - warm} of ${options.count}`,
    );
    return { seconds: (now() - start) / 1000, count: options.count };
  } finally {
    await pipe.close().catch(() => undefined);
  }
}

/** Results of one contender in one cell. */
export interface ContenderResult {
  readonly name: string;
  readonly kind: 'raw' | 'stream';
  /** Messages (payloads) per second over the repetitions. */
  readonly rate?: Summary;
  readonly error?: string;
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 160);
}

/**
 * Runs every available contender `repeats` times, alternating their order each round so that a
 * drift of the machine affects all alike. Message count calibrated from a probe run of the first
 * contender so that one run takes about `targetSeconds`.
 */
export async function compareThroughput(
  entries: readonly Entry[],
  options: {
    size: number;
    batch: number;
    window: number;
    repeats: number;
    targetSeconds: number;
    minCount?: number;
    maxCount?: number;
    /** Stream contenders run with the producer's defaults (see {@link PipeOptions.defaultProducer}). */
    defaultProducer?: boolean;
  },
): Promise<ContenderResult[]> {
  const results = new Map<string, { samples: number[]; error?: string }>();
  const live: Contender[] = [];
  for (const entry of entries) {
    if (isUnavailable(entry))
      results.set(entry.name, { samples: [], error: `not available: ${entry.unavailable}` });
    else {
      results.set(entry.name, { samples: [] });
      live.push(entry);
    }
  }
  const round = (n: number) =>
    Math.max(options.batch, Math.round(n / options.batch) * options.batch);
  let count = 0;
  for (const contender of live) {
    try {
      const probe = round(Math.max(64, Math.min(512, (4 * 1024 * 1024) / options.size)));
      const sample = await timeThroughput(contender, { ...options, count: probe });
      const rate = sample.count / sample.seconds;
      count = round(
        Math.min(
          options.maxCount ?? 100_000,
          Math.max(options.minCount ?? 128, rate * options.targetSeconds),
        ),
      );
      break;
    } catch (error) {
      results.get(contender.name)!.error = `failed: ${message(error)}`;
    }
  }
  if (count === 0) return toResults(entries, results);
  for (let r = 0; r < options.repeats; r++) {
    const order = r % 2 === 0 ? live : [...live].reverse();
    for (const contender of order) {
      const result = results.get(contender.name)!;
      if (result.error !== undefined) continue;
      try {
        const sample = await timeThroughput(contender, { ...options, count });
        result.samples.push(sample.count / sample.seconds);
      } catch (error) {
        result.error = `failed: ${message(error)}`;
      }
    }
  }
  return toResults(entries, results);
}

function toResults(
  entries: readonly Entry[],
  results: Map<string, { samples: number[]; error?: string }>,
): ContenderResult[] {
  return entries.map((entry) => {
    const result = results.get(entry.name)!;
    return {
      name: entry.name,
      kind: entry.kind,
      ...(result.samples.length > 0 ? { rate: summarize(result.samples) } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
    };
  });
}
