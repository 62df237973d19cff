import type { Summary } from './stats.js';

/** A number with 3 significant digits and k/M suffixes, e.g. 12.3k. */
export function si(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toPrecision(3)}k`;
  if (abs >= 1) return value.toPrecision(3);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

/** Fixed decimals, '–' for NaN. */
export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** Bytes as B / KiB / MiB / GiB. */
export function bytes(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1024 ** 3) return `${(value / 1024 ** 3).toPrecision(3)} GiB`;
  if (value >= 1024 ** 2) return `${(value / 1024 ** 2).toPrecision(3)} MiB`;
  if (value >= 1024) return `${(value / 1024).toPrecision(3)} KiB`;
  return `${Math.round(value)} B`;
}

/** Median and min–max of a summary, formatted by `unit`. */
export function spread(summary: Summary | undefined, unit: (value: number) => string = si): string {
  if (summary === undefined) return '–';
  return `${unit(summary.median)} (${unit(summary.min)}–${unit(summary.max)})`;
}

/** A Markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Size label for a payload size in bytes: 100 B, 1 KiB, 64 KiB, 16 MiB. */
export function sizeLabel(size: number): string {
  if (size >= 1024 * 1024 && size % (1024 * 1024) === 0) return `${size / (1024 * 1024)} MiB`;
  if (size >= 1024 && size % 1024 === 0) return `${size / 1024} KiB`;
  if (size >= 1000 && size % 1000 === 0) return `${size / 1000} kB`;
  return `${size} B`;
}
