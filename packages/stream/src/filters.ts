import {
  type Filter,
  InvalidArgumentError,
  type JsonValue,
  type Metadata,
} from '@proxystream/protocols';

// Every filter here returns `true` to DROP an event (the ProxyStore convention, see `Filter`).

/** A filter that keeps everything. */
export const nullFilter: Filter = () => false;

/** Options of {@link samplingFilter}. */
export interface SamplingFilterOptions {
  /** Source of uniform random numbers in [0, 1); default `Math.random`. Inject one for reproducible runs. */
  random?: () => number;
}

/**
 * Drops each event with probability `p`, independently of its metadata (ProxyStore's
 * `SamplingFilter`): `samplingFilter(0.9)` keeps about one event in ten.
 *
 * @throws {@link InvalidArgumentError} when `p` is not a number in [0, 1].
 */
export function samplingFilter(p: number, options: SamplingFilterOptions = {}): Filter {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new InvalidArgumentError(`samplingFilter: p must be a probability in [0, 1], got ${p}`);
  }
  const random = options.random ?? Math.random;
  return () => random() < p;
}

/** Drops an event only when every one of `filters` drops it (keeps it if any keeps it). No filters: keeps everything. */
export function allOf(...filters: Filter[]): Filter {
  if (filters.length === 0) return nullFilter;
  return (metadata) => {
    for (const filter of filters) if (!filter(metadata)) return false;
    return true;
  };
}

/** Drops an event when any of `filters` drops it. No filters: keeps everything. */
export function anyOf(...filters: Filter[]): Filter {
  return (metadata) => {
    for (const filter of filters) if (filter(metadata)) return true;
    return false;
  };
}

/** Drops exactly the events `filter` keeps: `not(metadataMatches({ camera: 'left' }))` keeps only the left camera. */
export function not(filter: Filter): Filter {
  return (metadata) => !filter(metadata);
}

/** A test on one metadata value; `undefined` when the key is absent. */
export type MetadataPredicate = (value: JsonValue | undefined) => boolean;

/** What {@link metadataMatches} compares: per key, a value (deep equality) or a predicate. */
export type MetadataPattern = { readonly [key: string]: JsonValue | MetadataPredicate };

function deepEqual(a: JsonValue | undefined, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i]!)) return false;
    return true;
  }
  const left = a as { [key: string]: JsonValue };
  const right = b as { [key: string]: JsonValue };
  const keys = Object.keys(right);
  if (Object.keys(left).length !== keys.length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(left, key) || !deepEqual(left[key], right[key]!)) return false;
  }
  return true;
}

/**
 * A filter that is `true` (drops the event) when the metadata matches every entry of `pattern`:
 * a plain value must be deeply equal to the metadata's value, a function must return true for
 * it. Wrap it in {@link not} to keep only matching events.
 *
 * @example
 * ```ts
 * // drop blurry frames and frames from before frame 100
 * const filter = anyOf(metadataMatches({ quality: 'blurry' }), metadataMatches({ frame: (f) => typeof f === 'number' && f < 100 }));
 * ```
 */
export function metadataMatches(pattern: MetadataPattern): Filter {
  const entries = Object.entries(pattern);
  return (metadata: Metadata) => {
    for (const [key, expected] of entries) {
      const actual = Object.hasOwn(metadata, key) ? metadata[key] : undefined;
      if (typeof expected === 'function') {
        if (!expected(actual)) return false;
      } else if (!deepEqual(actual, expected)) {
        return false;
      }
    }
    return true;
  };
}
