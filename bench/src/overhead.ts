import { barChart } from './chart.js';
import type { BenchConfig } from './config.js';
import {
  type DefaultProducerCell,
  defaultProducerCells,
  defaultProducerHighlights,
  defaultProducerTable,
  defaultProducerWindows,
} from './default-producer.js';
import { fixed, si, sizeLabel, spread, table } from './format.js';
import { progress, type SectionResult } from './report.js';
import { type ContenderResult, compareThroughput } from './runner.js';
import { ratio } from './stats.js';
import { KiB } from './timing.js';
import { availableEntries, type Transport, transports } from './transports.js';

/**
 * Most rounds of the cluster rows and of the default-producer comparison (rows added by issues 15
 * and 17): they double the section's cells, and 3 rounds keep it within minutes on 2 cores.
 */
const ADDED_ROWS_REPEATS = 3;

/** Rounds of a cell of `transport`: the configured repeats, capped as the transport and `added` say. */
function repeatsOf(transport: Transport, config: BenchConfig, added: boolean): number {
  let repeats = config.repeats;
  if (transport.maxRepeats !== undefined) repeats = Math.min(repeats, transport.maxRepeats);
  if (added || transport.cluster) repeats = Math.min(repeats, ADDED_ROWS_REPEATS);
  return repeats;
}

/** Sizes of the forced one-object batch figure of issue 17 (where this run measured them). */
const FORCED_SIZES: readonly number[] = [100, KiB];

/**
 * Key-figure line of issue 17's "forced one-object batches" (batch 1 = `batchSize: 1`, the
 * runner's window of batches in flight): how many stream rows reach 0.9 × raw, and the lowest.
 */
function forcedHighlight(
  forced: readonly { where: string; ratio: number }[],
  sizes: readonly number[],
): string[] {
  if (forced.length === 0) return [];
  const lowest = forced.reduce((low, cell) => (cell.ratio < low.ratio ? cell : low));
  const reached = forced.filter((cell) => cell.ratio >= 0.9).length;
  const measured = sizes.filter((size) => FORCED_SIZES.includes(size)).map(sizeLabel);
  return [
    `forced one-object batches (\`batchSize: 1\`) ≥ 0.9 × raw in ${reached} of ${forced.length} cells ` +
      `(${measured.join(', ')}); lowest ${fixed(lowest.ratio)} (${lowest.where})`,
  ];
}

/**
 * Section 1: StreamProducer → broker → StreamConsumer against the raw client, inline objects, on
 * single brokers and clusters; then the default producer against the raw plain loop.
 */
export async function overhead(config: BenchConfig): Promise<SectionResult> {
  const sizes = config.quick ? [KiB] : [100, KiB, 64 * KiB];
  const batches = [1, 64];
  const rows: string[][] = [];
  const highlights: string[] = [];
  const forced: { where: string; ratio: number }[] = [];
  const defaults: DefaultProducerCell[] = [];
  const chartBars: { label: string; value: number; group: string }[] = [];
  const all = await transports(config);
  for (const transport of all) {
    const entries = await availableEntries(transport);
    const b1 = new Map<number, ContenderResult[]>();
    for (const size of sizes) {
      for (const batch of batches) {
        progress(`overhead ${transport.title} ${sizeLabel(size)} batch ${batch}`);
        const results = await compareThroughput(entries, {
          size,
          batch,
          window: config.window,
          repeats: repeatsOf(transport, config, false),
          targetSeconds: config.targetSeconds,
        });
        if (batch === 1) b1.set(size, results);
        const baseline = results.find((r) => r.kind === 'raw' && r.rate !== undefined);
        const rawB1 = b1.get(size)?.find((r) => r.kind === 'raw' && r.rate !== undefined);
        for (const result of results) {
          const rate = result.rate;
          const vsRaw = result.kind === 'stream' ? ratio(rate, baseline?.rate) : Number.NaN;
          const vsRawB1 =
            result.kind === 'stream' && batch > 1 ? ratio(rate, rawB1?.rate) : Number.NaN;
          rows.push([
            transport.title,
            sizeLabel(size),
            String(batch),
            result.name,
            rate === undefined ? (result.error ?? '–') : spread(rate),
            rate === undefined ? '–' : si((rate.median * size) / 1e6),
            Number.isNaN(vsRaw) ? '' : fixed(vsRaw),
            Number.isNaN(vsRawB1) ? '' : fixed(vsRawB1),
          ]);
          if (size === KiB && rate !== undefined) {
            chartBars.push({
              label: `${transport.title} · ${result.name} · b${batch}`,
              value: rate.median,
              group: result.kind,
            });
          }
          if (size === KiB && result.kind === 'stream' && !Number.isNaN(vsRaw)) {
            highlights.push(
              `${result.name}, 1 KiB, batch ${batch}: ${fixed(vsRaw)} × ${baseline!.name}` +
                (Number.isNaN(vsRawB1) ? '' : ` (${fixed(vsRawB1)} × its unbatched rate)`),
            );
          }
          if (batch === 1 && FORCED_SIZES.includes(size) && !Number.isNaN(vsRaw)) {
            forced.push({ where: `${result.name}, ${sizeLabel(size)}`, ratio: vsRaw });
          }
        }
      }
    }
    defaults.push(
      ...(await defaultProducerCells(
        transport,
        entries,
        config,
        repeatsOf(transport, config, true),
      )),
    );
  }
  highlights.push(...forcedHighlight(forced, sizes), ...defaultProducerHighlights(defaults));
  const windows = defaultProducerWindows(config).join(' and ');
  const body = [
    `Inline objects (no store), one producer and one consumer in this process, ${config.window} sends in flight, ` +
      `${config.repeats} alternating rounds (Kafka and the cluster rows: at most ${ADDED_ROWS_REPEATS}). Rate = payloads per second from the first send to the last ` +
      'payload received, median (min–max). MB/s = 10^6 bytes of payload per second. For a raw client, batch 64 ' +
      'means 64 payloads concatenated into one broker message; for the stream, `batchSize: 64`. ' +
      `The stream producer keeps as many batches in flight as the raw client keeps sends (\`maxBatchesInFlight: ${config.window}\`; ` +
      'the default, 1, waits for each batch to be accepted before the next goes out, one round trip per batch). ' +
      'Batch 1 is thus the forced one-object batch (`batchSize: 1` passed explicitly). ' +
      'Raw contenders give the same delivery guarantee as the shim they face: Redis list = RPUSH, then an atomic move ' +
      'of up to 16 messages to a pending list (Lua LMOVE loop; BLMOVE when empty) and an LPOP acknowledgement, as the ' +
      'list shim with `count: 16`; Redis Streams = XREADGROUP COUNT 16 + XACK, as the Streams shim with `count: 16`; ' +
      'pub/sub, core NATS = fire and forget on both sides; JetStream = acknowledged publishes and explicit acks; ' +
      "Kafka = kafkajs producer (acks -1) and consumer group (the shim descriptor's session timeout, heartbeat and " +
      'fetch wait). The in-process byte broker and the core NATS shim copy a message unless the sender hands it ' +
      'over (`{ owned: true }`), as StreamProducer does with its encoded envelopes: neither copies here; the bare ' +
      "async queue does not copy, MessageChannel does (structured clone). Core NATS: the raw loop flushes every 128 publishes, the shim once half its window (2 048 messages or 2 MiB) is unconfirmed. ZeroMQ: the shim's sockets are connected to each other as the raw contender connects its own (PUSH → PULL, PUB → SUB on loopback tcp), not through the forwarder or queue device of the contract's descriptor. " +
      '"÷ raw" divides by the first raw contender of the same broker, size and batch; "÷ raw b1" by the raw ' +
      'client unbatched.',
    '',
    'Cluster rows (after the single-node ones; `--no-clusters` leaves them out, `--quick` too unless `--transports` ' +
      'names them) run on the clusters of `scripts/clusters.sh` on 127.0.0.1, or those of `REDIS_CLUSTER_URLS`, ' +
      '`NATS_CLUSTER_URLS`, `KAFKA_CLUSTER_BROKERS`: a Redis Cluster of 3 masters with one replica each (6 nodes; ' +
      "a topic lives on the master of its slot); 3 NATS servers with JetStream, streams of 3 replicas (the shim's " +
      "stream gets as many replicas as the cluster has servers, up to 3; the raw contender's own stream " +
      '`num_replicas: 3`); 3 Kafka brokers (KRaft), topics of one partition with replication factor 3 and ' +
      "`min.insync.replicas=2`, acks -1 on both sides. The raw contenders run on the same cluster with the shim's " +
      'guarantee: ioredis `Cluster` with sharded pub/sub (SPUBLISH / SSUBSCRIBE, as the shim on a cluster; the ' +
      "shim's subscriber listens on a replica of the slot, which survives a failover, ioredis's on its master) and " +
      "the list and Streams readers above on keys that share the queue's hash slot (`{key}:pending`, as the list " +
      "shim's pending lists); core NATS and JetStream given every server, tried in order, so that raw and shim " +
      'clients alike connect to the first one; kafkajs given the three brokers. A broker or cluster with a node ' +
      'that accepts no connection shows as "not available" with the reason.',
    '',
    table(
      [
        'broker',
        'size',
        'batch',
        'contender',
        'msg/s median (min–max)',
        'MB/s',
        '÷ raw',
        '÷ raw b1',
      ],
      rows,
    ),
    '',
    `**Default producer.** For every broker, single and cluster, 100 B and 1 KiB, ${windows} sends in flight: the raw ` +
      "client's plain loop (one payload per broker message, batch 1) against `new StreamProducer(publisher)` with " +
      'no option about batching (no `batchSize`, no `maxBatchesInFlight`: what a user gets without tuning, adaptive batches), the ' +
      `same sending loop, ${ADDED_ROWS_REPEATS} alternating rounds. The fire-and-forget shims (Redis pub/sub, core NATS) ` +
      'resolve a send once it fits their in-flight window, so even 1 send in flight keeps several publishes on ' +
      'their way, where the raw loop waits for each. "÷ raw" as above. Issue 17 asks for at least ' +
      '1.0 × raw here, and at least 0.9 × raw for the forced one-object batches (batch-1 rows above).',
    '',
    defaultProducerTable(defaults),
  ].join('\n');
  return {
    title: 'Overhead: stream vs raw client, inline objects',
    body,
    highlights,
    charts: { 'overhead-1kib.svg': barChart('Messages per second, 1 KiB inline', chartBars) },
  };
}
