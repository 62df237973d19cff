import type { BenchConfig } from './config.js';
import { fixed, table } from './format.js';
import type { Contender, Pipe } from './pipe.js';
import { progress, type SectionResult } from './report.js';
import { isUnavailable, RUN_DEADLINE_MS } from './runner.js';
import { quantile, summarize } from './stats.js';
import { KiB, now, payload, sleep, waitFor, withDeadline } from './timing.js';
import { availableEntries, transports } from './transports.js';

/** Payload size of the latency runs. */
export const SIZE = KiB;

/**
 * The warm-up of each run, before anything is measured: this many sends, one every
 * {@link WARM_UP_INTERVAL_MS}. Enough for the optimising compiler to reach the send and receive
 * paths, raw and stream alike, so that the run measures a service that has been running (with
 * 50 sends, the first runs in a process had p99s up to twice those of the later ones).
 */
export const WARM_UP_SENDS = 1000;
/** Spacing of the warm-up sends, in ms (4 000 msg/s: a quarter of a second per run). */
export const WARM_UP_INTERVAL_MS = 0.25;

/** Rounds of the single-broker rows. */
const SINGLE_ROUNDS = 5;

/** What {@link pacedRun} tells about each send: its index, when it started and when it resolved (ms). */
export type OnSent = (index: number, sent: number, resolved: number) => void;

/**
 * Sends `count` timestamped payloads, one every `intervalMs`, each send awaited as a user would
 * (nothing flushed in between: what the producer holds back shows), and waits until `received()`
 * reaches `count`. Each payload carries its send time (float64 at offset 0) and its index
 * (uint32 at offset 8).
 */
export async function pacedRun(
  pipe: Pipe,
  received: () => number,
  count: number,
  intervalMs: number,
  onSent?: OnSent,
) {
  const base = payload(SIZE);
  const start = now();
  for (let i = 0; i < count; i++) {
    const due = start + i * intervalMs;
    const wait = due - now();
    if (wait > 0.5) await sleep(wait);
    const data = base.slice();
    const view = new DataView(data.buffer);
    const sent = now();
    view.setFloat64(0, sent, true);
    view.setUint32(8, i, true);
    await pipe.send(data);
    onSent?.(i, sent, now());
  }
  await pipe.finish();
  await waitFor(
    () => received() >= count,
    received,
    5000,
    `latency: received ${received()} of ${count}`,
  );
}

/** One run of `contender`: opens a pipe, warms it up, and returns the sorted latencies of `count` paced sends. */
async function measure(contender: Contender, count: number, rate: number): Promise<number[]> {
  const latencies: number[] = [];
  const pipe = await contender.open({
    size: SIZE,
    batch: 1,
    // The producer as a user makes it: coalescing must not cost latency at a low rate.
    defaultProducer: true,
    onItem: (item) => {
      const sent = new DataView(item.buffer, item.byteOffset, 8).getFloat64(0, true);
      latencies.push((now() - sent) * 1000);
    },
  });
  try {
    // Warm-up: connections, JIT, consumer groups.
    const received = () => latencies.length;
    await pacedRun(pipe, received, WARM_UP_SENDS, WARM_UP_INTERVAL_MS);
    latencies.length = 0;
    await pacedRun(pipe, received, count, 1000 / rate);
  } finally {
    await pipe.close().catch(() => undefined);
  }
  return latencies.sort((a, b) => a - b);
}

/** Rounds of the cluster rows (fewer than the single brokers' to keep the section within minutes). */
const CLUSTER_ROUNDS = 3;

/** Section 2: p50 / p99 end to end at a paced rate, 1 KiB, batch 1, stream vs raw. */
export async function latency(config: BenchConfig): Promise<SectionResult> {
  const count = config.quick ? 300 : 2000;
  const rate = 1000;
  const singleRounds = config.quick ? 2 : SINGLE_ROUNDS;
  const rows: string[][] = [];
  const highlights: string[] = [];
  for (const transport of await transports(config)) {
    progress(`latency ${transport.title}`);
    const rounds = transport.cluster ? Math.min(CLUSTER_ROUNDS, singleRounds) : singleRounds;
    const entries = await availableEntries(transport);
    const perContender = new Map<string, { p50: number[]; p99: number[]; error?: string }>();
    for (const entry of entries) {
      perContender.set(entry.name, {
        p50: [],
        p99: [],
        ...(isUnavailable(entry) ? { error: `not available: ${entry.unavailable}` } : {}),
      });
    }
    const live = entries.filter((e) => !isUnavailable(e));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? live : [...live].reverse();
      for (const entry of order) {
        if (isUnavailable(entry)) continue;
        const result = perContender.get(entry.name)!;
        if (result.error !== undefined) continue;
        try {
          const sorted = await withDeadline(measure(entry, count, rate), RUN_DEADLINE_MS, 'run');
          result.p50.push(quantile(sorted, 0.5));
          result.p99.push(quantile(sorted, 0.99));
        } catch (error) {
          result.error = `failed: ${(error as Error).message.split('\n')[0]}`;
        }
      }
    }
    const raw = entries.find((e) => e.kind === 'raw');
    const rawResult = raw === undefined ? undefined : perContender.get(raw.name);
    const rawP99 = rawResult && rawResult.p99.length > 0 ? summarize(rawResult.p99).median : NaN;
    for (const entry of entries) {
      const r = perContender.get(entry.name)!;
      if (r.p50.length === 0) {
        rows.push([transport.title, entry.name, r.error ?? '–', '', '', '']);
        continue;
      }
      const p50 = summarize(r.p50);
      const p99 = summarize(r.p99);
      const added = entry.kind === 'stream' ? p99.median - rawP99 : NaN;
      rows.push([
        transport.title,
        entry.name,
        `${fixed(p50.median, 0)} (${fixed(p50.min, 0)}–${fixed(p50.max, 0)})`,
        `${fixed(p99.median, 0)} (${fixed(p99.min, 0)}–${fixed(p99.max, 0)})`,
        Number.isNaN(added) ? '' : fixed(added, 0),
        r.error ?? '',
      ]);
      if (entry.kind === 'stream' && !Number.isNaN(added)) {
        highlights.push(
          `latency ${entry.name}: p50 ${fixed(p50.median, 0)} µs, p99 ${fixed(p99.median, 0)} µs (${added >= 0 ? '+' : ''}${fixed(added, 0)} µs p99 over ${raw!.name})`,
        );
      }
    }
  }
  const body = [
    `One-way latency of 1 KiB payloads, batch 1, paced at ${rate} msg/s, ${count} messages per run after a ` +
      `warm-up of ${WARM_UP_SENDS} sends (one every ${WARM_UP_INTERVAL_MS} ms, not measured), ${singleRounds} alternating rounds (cluster rows: ${Math.min(CLUSTER_ROUNDS, singleRounds)}; ` +
      'the clusters as in the overhead section); producer and consumer in this process, so one clock. ' +
      "Every run is in the bench's one process, after the rows before it: the figures are those of a service " +
      'that has been running. A stream contender in a process of its own needs a longer warm-up: with 1 000 ' +
      "warm-up sends, the core NATS stream's p99 was 1.0–1.8 ms against the raw client's 0.5–1.0 ms, and " +
      "near the raw client's after 20 000 paced sends. " +
      'No cluster runs while the single-broker rows run: the bench starts each cluster when its rows come ' +
      'and stops it at the end of the section (with the clusters running, the single-broker p99s were 1.5 to ' +
      '3 times higher on this machine of two cores; `node bench/latency-profile.mjs <transport>` shows where a ' +
      "row's slowest messages spend their time). " +
      'p50 / p99 in µs: median over the rounds (min–max). "+p99" = stream p99 − raw p99 (target ≤ 100 µs). ' +
      'The stream contender is the default producer, `new StreamProducer(publisher)` with no option about batching ' +
      '(no `batchSize`, no `maxBatchesInFlight`), so that coalescing shows if it costs latency at a low rate; each ' +
      'send is awaited and nothing is flushed between sends (one flush after the last), raw and stream alike. ' +
      "Redis pub/sub on a cluster: the shim's sharded subscriber listens on a replica of the slot (it survives a " +
      "failover), which gets the master's messages through replication, later; ioredis's listens on the master.",
    '',
    table(['broker', 'contender', 'p50 µs', 'p99 µs', '+p99 µs vs raw', 'note'], rows),
  ].join('\n');
  return { title: 'Latency at a paced rate', body, highlights };
}
