import { afterEach } from 'vitest';
import { within } from './helpers.js';

/** Something a test opens and must close: a publisher, a subscriber, a store, a client. */
export interface Closable {
  close(): Promise<unknown>;
}

/** What {@link closeAfterEach} returns: registers what the current test must clean up. */
export interface CleanupAfterEach {
  /** Closes `item` after the current test; returns `item`, so a factory call can be wrapped. */
  track<T extends Closable>(item: T): T;
  /** Runs `step` after the current test. */
  defer(...steps: Array<() => Promise<unknown>>): void;
}

/**
 * Registers a vitest `afterEach` hook that closes everything the test tracked, all at once,
 * ignoring close errors (a broker the test refused may fail to close) but failing the test with
 * `TimeoutError` when cleanup takes longer than `timeoutMs` (default 30 000). Call it at the top
 * level of a test file.
 *
 * @example
 * ```ts
 * const { track } = closeAfterEach();
 * it('round-trips', async () => {
 *   const pub = track(await MyPublisher.create(options));
 * });
 * ```
 */
export function closeAfterEach(timeoutMs = 30_000): CleanupAfterEach {
  const steps: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    await within(
      Promise.all(steps.splice(0).map((step) => step().catch(() => {}))),
      timeoutMs,
      'cleanup',
    );
  });
  return {
    track(item) {
      steps.push(() => item.close());
      return item;
    },
    defer(...more) {
      steps.push(...more);
    },
  };
}
