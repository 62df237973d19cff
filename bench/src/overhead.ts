import { barChart } from './chart.js';
import type { BenchConfig } from './config.js';
import { fixed, si, sizeLabel, spread, table } from './format.js';
import { progress, type SectionResult } from './report.js';
import { type ContenderResult, compareThroughput } from './runner.js';
import { ratio } from './stats.js';
import { KiB } from './timing.js';
import { transports } from './transports.js';

/** Section 1: StreamProducer → broker → StreamConsumer against the raw client, inline objects. */
export async function overhead(config: BenchConfig): Promise<SectionResult> {
  const sizes = config.quick ? [KiB] : [100, KiB, 64 * KiB];
  const batches = [1, 64];
  const rows: string[][] = [];
  const highlights: string[] = [];
  const chartBars: { label: string; value: number; group: string }[] = [];
  for (const transport of await transports(config)) {
    const b1 = new Map<number, ContenderResult[]>();
    for (const size of sizes) {
      for (const batch of batches) {
        // Kafka joins a consumer group per run: fewer rounds keep the section within minutes.
        const repeats = transport.id === 'kafka' ? Math.min(3, config.repeats) : config.repeats;
        progress(`overhead ${transport.title} ${sizeLabel(size)} batch ${batch}`);
        const results = await compareThroughput(transport.entries, {
          size,
          batch,
          window: config.window,
          repeats,
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
        }
      }
    }
  }
  const body = [
    `Inline objects (no store), one producer and one consumer in this process, ${config.window} sends in flight, ` +
      `${config.repeats} alternating rounds (Kafka: at most 3). Rate = payloads per second from the first send to the last ` +
      'payload received, median (min–max). MB/s = 10^6 bytes of payload per second. For a raw client, batch 64 ' +
      'means 64 payloads concatenated into one broker message; for the stream, `batchSize: 64`. ' +
      `The stream producer keeps as many batches in flight as the raw client keeps sends (\`maxBatchesInFlight: ${config.window}\`; ` +
      'the default, 1, waits for each batch to be accepted before the next goes out, one round trip per batch). ' +
      'Raw contenders give the same delivery guarantee as the shim they face: Redis list = RPUSH, then an atomic move ' +
      'of up to 16 messages to a pending list (Lua LMOVE loop; BLMOVE when empty) and an LPOP acknowledgement, as the ' +
      'list shim with `count: 16`; Redis Streams = XREADGROUP COUNT 16 + XACK, as the Streams shim with `count: 16`; ' +
      'pub/sub, core NATS = fire and forget on both sides; JetStream = acknowledged publishes and explicit acks; ' +
      'Kafka = kafkajs producer and consumer group. The in-process byte broker copies each message (the caller may ' +
      'reuse its buffer), which the bare async queue does not; MessageChannel copies too (structured clone). ' +
      'Core NATS: the shim copies each message as well (the client writes later) and confirms batches with a flush. ' +
      '"÷ raw" divides by the first raw contender of the same broker, size and batch; "÷ raw b1" by the raw ' +
      'client unbatched.',
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
  ].join('\n');
  return {
    title: 'Overhead: stream vs raw client, inline objects',
    body,
    highlights,
    charts: { 'overhead-1kib.svg': barChart('Messages per second, 1 KiB inline', chartBars) },
  };
}
