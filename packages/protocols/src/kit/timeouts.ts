import { TimeoutError } from '../errors.js';

/**
 * Resolves or rejects like `promise`, or rejects with {@link TimeoutError} ("`what` did not finish
 * within `ms` ms") once `ms` passed. The timer is cleared either way; `Infinity` waits for ever.
 * `promise` goes on in the background after a timeout; its later failure is not unhandled.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms === Number.POSITIVE_INFINITY) return promise;
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`${what} did not finish within ${ms} ms`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Waits for `work` until `timeoutMs` passes or `signal` aborts, for shutdown paths that must not
 * hang on a broker that is gone. Resolves `undefined` when `work` finished first (rejecting with
 * its error if it failed), else why the wait ended. `work` goes on in the background; its later
 * failure is not reported as unhandled.
 */
export function settleWithin(
  work: Promise<unknown>,
  timeoutMs: number,
  signal?: AbortSignal,
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
      (error: unknown) => finish(undefined, error ?? new Error('the operation failed')),
    );
  });
}

/**
 * Waits for `work` at most `ms`, ignoring its outcome: resolves `true` when it settled in time,
 * `false` otherwise. For the steps of a close that must each be bounded but not fail the close.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    return (await settleWithin(work, ms)) === undefined;
  } catch {
    return true;
  }
}

/** A pause of `ms` that does not keep the process alive. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
