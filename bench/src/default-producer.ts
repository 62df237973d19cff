import type { BenchConfig } from './config.js';
import { fixed, si, sizeLabel, spread, table } from './format.js';
import { progress } from './report.js';
import { type ContenderResult, compareThroughput, type Entry } from './runner.js';
import { ratio } from './stats.js';
import { KiB } from './timing.js';
import type { Transport } from './transports.js';

/** Payload sizes of the default-producer comparison (issue 17: 100 B and 1 KiB). */
const SIZES = [100, KiB] as const;

/** Sends in flight of the default-producer comparison: one awaited at a time, and the runner's window. */
export function defaultProducerWindows(config: BenchConfig): number[] {
  return [...new Set([1, config.window])];
}

/** One cell of the comparison: a transport, a size and a number of sends in flight. */
export interface DefaultProducerCell {
  readonly transport: string;
  readonly size: number;
  readonly window: number;
  readonly results: readonly ContenderResult[];
}

/**
 * Runs the default-producer comparison of one transport: for each size and number of sends in
 * flight, the raw client's plain loop (one payload per broker message) against
 * `new StreamProducer(publisher)` with no batching options, alternating, `repeats` rounds.
 */
export async function defaultProducerCells(
  transport: Transport,
  entries: readonly Entry[],
  config: BenchConfig,
  repeats: number,
): Promise<DefaultProducerCell[]> {
  const cells: DefaultProducerCell[] = [];
  for (const size of SIZES) {
    for (const window of defaultProducerWindows(config)) {
      progress(
        `overhead ${transport.title} ${sizeLabel(size)} default producer, ${window} in flight`,
      );
      const results = await compareThroughput(entries, {
        size,
        batch: 1,
        window,
        repeats,
        targetSeconds: config.targetSeconds,
        defaultProducer: true,
      });
      cells.push({ transport: transport.title, size, window, results });
    }
  }
  return cells;
}

/** The first raw contender of a cell that has a rate: the baseline of "÷ raw". */
const baselineOf = (results: readonly ContenderResult[]): ContenderResult | undefined =>
  results.find((result) => result.kind === 'raw' && result.rate !== undefined);

/** Each stream contender's rate ÷ the baseline's, NaN where either is missing. */
function streamRatios(cell: DefaultProducerCell): { name: string; ratio: number }[] {
  const baseline = baselineOf(cell.results);
  return cell.results
    .filter((result) => result.kind === 'stream')
    .map((result) => ({ name: result.name, ratio: ratio(result.rate, baseline?.rate) }));
}

/** The comparison as a Markdown table, one row per contender and cell. */
export function defaultProducerTable(cells: readonly DefaultProducerCell[]): string {
  const rows: string[][] = [];
  for (const cell of cells) {
    const baseline = baselineOf(cell.results);
    for (const result of cell.results) {
      const rate = result.rate;
      const vsRaw = result.kind === 'stream' ? ratio(rate, baseline?.rate) : Number.NaN;
      rows.push([
        cell.transport,
        sizeLabel(cell.size),
        String(cell.window),
        result.name,
        rate === undefined ? (result.error ?? '–') : spread(rate),
        rate === undefined ? '–' : si((rate.median * cell.size) / 1e6),
        Number.isNaN(vsRaw) ? '' : fixed(vsRaw),
      ]);
    }
  }
  return table(
    ['broker', 'size', 'sends in flight', 'contender', 'msg/s median (min–max)', 'MB/s', '÷ raw'],
    rows,
  );
}

/**
 * Key-figure lines: how many cells reach the target of issue 17 (at least 1.0 × the raw plain
 * loop) and the lowest, then one line per stream contender with its ratios by size and number of
 * sends in flight.
 */
export function defaultProducerHighlights(cells: readonly DefaultProducerCell[]): string[] {
  const bySize = new Map<string, Map<number, number[]>>();
  const windows = new Set<number>();
  const all: { where: string; ratio: number }[] = [];
  for (const cell of cells) {
    windows.add(cell.window);
    for (const { name, ratio: value } of streamRatios(cell)) {
      const sizes = bySize.get(name) ?? new Map<number, number[]>();
      sizes.set(cell.size, [...(sizes.get(cell.size) ?? []), value]);
      bySize.set(name, sizes);
      if (!Number.isNaN(value)) {
        all.push({
          where: `${name}, ${sizeLabel(cell.size)}, ${cell.window} in flight`,
          ratio: value,
        });
      }
    }
  }
  const legend = `(${[...windows].join(' / ')} sends in flight)`;
  const lines = [...bySize]
    // A contender that never ran (broker not available) says so in the table, not here.
    .filter(([, sizes]) => [...sizes.values()].flat().some((value) => !Number.isNaN(value)))
    .map(
      ([name, sizes]) =>
        `default producer, ${name} ÷ raw plain loop: ` +
        [...sizes]
          .map(([size, ratios]) => `${sizeLabel(size)} ${ratios.map((r) => fixed(r)).join(' / ')}`)
          .join(', ') +
        ` ${legend}`,
    );
  if (all.length > 0) {
    const lowest = all.reduce((low, cell) => (cell.ratio < low.ratio ? cell : low));
    const reached = all.filter((cell) => cell.ratio >= 1).length;
    lines.unshift(
      `default producer (no batching options) ≥ 1.0 × the raw plain loop in ${reached} of ${all.length} cells; ` +
        `lowest ${fixed(lowest.ratio)} (${lowest.where})`,
    );
  }
  return lines;
}
