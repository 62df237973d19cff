import { InvalidArgumentError } from '../errors.js';

/**
 * `value` when it is a positive safe integer, `fallback` when it is `undefined` and a fallback is
 * given (without one the value is required); otherwise an {@link InvalidArgumentError} that names
 * the option. The one check of a count option (messages,
 * bytes, batch sizes) in every shim and store.
 *
 * @example
 * ```ts
 * const maxInFlight = positiveInteger(options.maxInFlightMessages, 'maxInFlightMessages', 1024);
 * ```
 */
export function positiveInteger(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * `value` when it is a number greater than 0 (`Infinity` included), `fallback` when it is
 * `undefined`; otherwise an {@link InvalidArgumentError}. For durations that must not be zero.
 */
export function positiveNumber(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidArgumentError(`${name} must be a number > 0, got ${String(value)}`);
  }
  return value;
}

/**
 * `value` when it is a number ≥ 0 (`Infinity` included), `fallback` when it is `undefined`;
 * otherwise an {@link InvalidArgumentError}. For durations where 0 means "at once" or "never".
 */
export function nonNegative<F extends number | undefined>(
  value: unknown,
  name: string,
  fallback: F,
): number | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidArgumentError(`${name} must be a number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * `value` when it is one of `allowed`, `fallback` when it is `undefined`; otherwise an
 * {@link InvalidArgumentError} that lists the allowed values.
 */
export function oneOf<const A extends readonly string[]>(
  value: unknown,
  name: string,
  allowed: A,
  fallback: A[number],
): A[number] {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new InvalidArgumentError(
      `${name} must be one of ${allowed.map((item) => `'${item}'`).join(', ')}, got ${String(value)}`,
    );
  }
  return value as A[number];
}
