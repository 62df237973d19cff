import { nonNegative } from '@proxystream/protocols/kit';

/** Time limit of `close()` on the producer and the consumer when none is given, in ms. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;

/** Options every bounded `close()` takes. */
export interface BoundedCloseOptions {
  /**
   * Longest time, in ms, `close()` waits for the broker (flushing, acknowledging, closing the
   * client) before it gives up with `CloseIncompleteError`. Default 30 000; `Infinity` waits for ever.
   */
  timeoutMs?: number;
  /** Aborting makes `close()` give up at once with `CloseIncompleteError` (reason `'aborted'`). */
  signal?: AbortSignal;
}

/** The validated time limit of `options`. */
export function closeTimeout(options: BoundedCloseOptions): number {
  return nonNegative(options.timeoutMs, 'timeoutMs', DEFAULT_CLOSE_TIMEOUT_MS);
}

export { settleWithin } from '@proxystream/protocols/kit';
