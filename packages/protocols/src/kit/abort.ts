import { AbortedError } from '../errors.js';

/**
 * The one rule for signals, on every shim, store and stream operation:
 * - a signal that is **already aborted** when a factory (`create`) or an operation (`send`,
 *   `resolve`, `get`) is called makes it reject with {@link AbortedError}, and nothing is opened or
 *   sent;
 * - a signal aborted **later** ends a subscriber's iteration like `close()` (a pending `next()`
 *   resolves `done`), and makes a waiting operation reject with {@link AbortedError}.
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}

/** Options of {@link abortable}. */
export interface AbortableOptions {
  /** The message of the {@link AbortedError}. Default `'operation aborted'`. */
  message?: string;
  /** Called once when the wait is given up (the signal aborted first), e.g. to detach the work. */
  onAbort?: () => void;
}

/**
 * `promise`, or a rejection with {@link AbortedError} as soon as `signal` aborts (the work itself
 * goes on in the background; its later failure is not unhandled). Without a signal, `promise`.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  options: AbortableOptions = {},
): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => undefined);
  const { message, onAbort } = options;
  if (signal.aborted) {
    onAbort?.();
    return Promise.reject(new AbortedError(message));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      reject(new AbortedError(message));
      onAbort?.();
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
