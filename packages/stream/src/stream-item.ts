import { AbortedError, type Metadata } from '@proxystream/protocols';
import type { ProxyReference, ResolveOptions } from './proxy-reference.js';

/**
 * An object that travelled inline in its event (no store): what the consumer yields for it, so
 * that every item offers the same {@link resolve} as a {@link ProxyReference}.
 *
 * @example
 * ```ts
 * for await (const item of consumer) {
 *   if (item.isReference) worker.postMessage(item.reference.toJSON());
 *   else handle(await item.resolve());
 * }
 * ```
 */
export class InlineItem<T> {
  constructor(
    /** The object itself. */
    readonly value: T,
  ) {}

  /** Always `false`: the object is here, there is no reference to hand on. */
  get isReference(): false {
    return false;
  }

  /** Always `undefined` (see {@link ProxyReference.reference}). */
  get reference(): undefined {
    return undefined;
  }

  /** Always `true`: nothing to fetch. */
  get resolved(): true {
    return true;
  }

  /**
   * The object, as {@link ProxyReference.resolve} gives a stored one.
   * @throws `AbortedError` when `options.signal` is already aborted.
   */
  resolve(options?: ResolveOptions): Promise<T> {
    if (options?.signal?.aborted) return Promise.reject(new AbortedError('resolve aborted'));
    return Promise.resolve(this.value);
  }
}

/**
 * What the consumer yields: an {@link InlineItem} for inline events, a {@link ProxyReference}
 * for stored ones. Both have `resolve(options?): Promise<T>`; `isReference` tells them apart,
 * and `reference` is the reference to hand on (`undefined` for an inline item).
 */
export type StreamItem<T> = InlineItem<T> | ProxyReference<T>;

/** A value with the metadata its producer sent. */
export interface WithMetadata<V> {
  /** The item (or, from the object iterators, the resolved object). */
  readonly value: V;
  /** The producer's metadata. */
  readonly metadata: Metadata;
}
