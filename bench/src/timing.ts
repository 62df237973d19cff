import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

/** Milliseconds from a monotonic clock. */
export const now = (): number => performance.now();

export const sleep = (ms: number): Promise<void> => delay(ms);

/** Bytes in a KiB and a MiB. */
export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A payload of `size` bytes of non-trivial content (incompressible enough, cheap to make). */
export function payload(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/**
 * Calls `send` `count` times keeping at most `window` calls unresolved, then waits for all.
 * `window` 1 awaits each call; a larger window pipelines like a client with requests in flight.
 */
export async function sendWindowed(
  count: number,
  window: number,
  send: (index: number) => Promise<void> | void,
): Promise<void> {
  if (window <= 1) {
    for (let i = 0; i < count; i++) await send(i);
    return;
  }
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let i = 0; i < count; i++) {
    const result = send(i);
    if (result === undefined) continue;
    const tracked: Promise<void> = result.then(
      () => {
        inFlight.delete(tracked);
      },
      (error: unknown) => {
        inFlight.delete(tracked);
        failure ??= error;
      },
    );
    inFlight.add(tracked);
    if (inFlight.size >= window) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
}

/**
 * `work`'s result, or a rejection naming `what` once `ms` passed without one: a broker that stops
 * answering in the middle of a run (a cluster node killed, say) fails that run instead of
 * stalling the bench. The work itself goes on unobserved and releases what it opened when it ends.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves when `done()` is true; rejects after `timeoutMs` of no progress as reported by `progress()`. */
export async function waitFor(
  done: () => boolean,
  progress: () => number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  let last = progress();
  let lastChange = now();
  while (!done()) {
    await sleep(1);
    const current = progress();
    if (current !== last) {
      last = current;
      lastChange = now();
    } else if (now() - lastChange > timeoutMs) {
      throw new Error(`${what}: no progress for ${timeoutMs} ms (at ${current})`);
    }
  }
}

/** Samples this process's RSS every `intervalMs` and keeps the peak. */
export class RssSampler {
  #peak = process.memoryUsage.rss();
  readonly #base = this.#peak;
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs = 20) {
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.#peak) this.#peak = rss;
  }

  /** Peak RSS in bytes seen so far. */
  get peak(): number {
    return this.#peak;
  }

  /** RSS when the sampler started. */
  get base(): number {
    return this.#base;
  }

  stop(): number {
    this.sample();
    clearInterval(this.#timer);
    return this.#peak;
  }
}

/** Runs `gc` when node was started with --expose-gc. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}
