/** What the scenarios read from: a consumer's `nextObject()` or a raw reader of a subscriber. */
export interface ObjectSource {
  nextObject(): Promise<IteratorResult<unknown, unknown>>;
  close(): Promise<void>;
}

/** A source's next result, or `'timeout'` after `ms` without one. */
export async function nextObjectWithin(
  source: ObjectSource,
  ms: number,
): Promise<IteratorResult<unknown, unknown> | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([source.nextObject(), silence]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Tally of what a consumer received in a scenario where every object sent is its index, so
 * that loss, repetition and order can be counted.
 */
export class Tally {
  readonly counts: Uint8Array;
  distinct = 0;
  duplicates = 0;
  reordered = 0;
  #highest = -1;

  constructor(readonly events: number) {
    this.counts = new Uint8Array(events);
  }

  add(value: unknown): void {
    const index = value as number;
    if (!Number.isInteger(index) || index < 0 || index >= this.events) {
      throw new Error(`received an object that was never sent: ${String(value)}`);
    }
    if (this.counts[index]! > 0) this.duplicates++;
    else {
      this.distinct++;
      if (index < this.#highest) this.reordered++;
    }
    if (this.counts[index]! < 255) this.counts[index]!++;
    if (index > this.#highest) this.#highest = index;
  }
}

/** What {@link rssSampler} reports: the process's memory over a run, in MiB. */
export interface MemoryFigures {
  samples: number;
  startMiB: number;
  maxMiB: number;
  endMiB: number;
  /** Flatness: the peak of the second quarter of the run … */
  secondQuarterPeakMiB: number;
  /** … against the peak of the last quarter. */
  lastQuarterPeakMiB: number;
  heapSecondQuarterPeakMiB: number;
  heapLastQuarterPeakMiB: number;
}

/** Samples the process's RSS and heap every `everyMs` until stopped. */
export function rssSampler(everyMs = 500): { stop(): MemoryFigures } {
  const samples: number[] = [];
  const heaps: number[] = [];
  const take = () => {
    const usage = process.memoryUsage();
    samples.push(usage.rss);
    heaps.push(usage.heapUsed);
  };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
      const quarter = Math.max(1, Math.floor(samples.length / 4));
      const peak = (values: number[]) => mib(Math.max(...values));
      return {
        samples: samples.length,
        startMiB: mib(samples[0]!),
        maxMiB: peak(samples),
        endMiB: mib(samples[samples.length - 1]!),
        secondQuarterPeakMiB: peak(samples.slice(quarter, 2 * quarter)),
        lastQuarterPeakMiB: peak(samples.slice(-quarter)),
        heapSecondQuarterPeakMiB: peak(heaps.slice(quarter, 2 * quarter)),
        heapLastQuarterPeakMiB: peak(heaps.slice(-quarter)),
      };
    },
  };
}

/** A timer-based pause that does not keep the process alive (the kit's). */
export { pause } from '@proxystream/protocols/kit';
