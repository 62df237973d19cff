import { nonNegative } from './option-checks.js';

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

/**
 * Waits for `work` until `timeoutMs` passes or `signal` aborts. Resolves `undefined` when `work`
 * finished first (rejecting with its error if it failed), else why the wait ended. `work` goes on
 * in the background; a later failure of it is not reported as unhandled.
 */
export function settleWithin(
  work: Promise<void>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<'timeout' | 'aborted' | undefined> {
  work.catch(() => undefined);
  if (signal?.aborted) return Promise.resolve('aborted');
  if (timeoutMs === Number.POSITIVE_INFINITY && signal === undefined) {
    return work.then(() => undefined);
  }
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => finish('aborted');
    function finish(reason: 'timeout' | 'aborted' | undefined, error?: unknown): void {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve(reason);
    }
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      timer = setTimeout(finish, timeoutMs, 'timeout');
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => finish(undefined),
      (error: unknown) => finish(undefined, error ?? new Error('close failed')),
    );
  });
}
