import { InvalidArgumentError } from '@proxystream/protocols';

/**
 * `value` if it is a positive safe integer, `fallback` if it is `undefined` and a fallback is
 * given; otherwise {@link InvalidArgumentError} naming `name`. Internal.
 */
export function positiveInteger(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * `value` if it is a number ≥ 0 (`Infinity` included), `fallback` if it is `undefined`;
 * otherwise {@link InvalidArgumentError} naming `name`. Internal.
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
