import {
  AbortedError,
  DecodeError,
  type JsonValue,
  ObjectNotFoundError,
  type Serializer,
  type Store,
  type StoreConfig,
  type StoreFactory,
} from '@proxystream/protocols';
import { abortable } from '@proxystream/protocols/kit';
import { defaultSerializer } from './default-serializer.js';
import {
  type ReferenceTelemetry,
  referenceTelemetry,
  telemetryGiven,
} from './reference-telemetry.js';
import { StoreCache } from './store-cache.js';
import { fromTraceparent, toTraceparent } from './telemetry.js';
import type { ReferenceTrace, TelemetryOptions } from './telemetry-options.js';

export type { ReferenceTrace } from './telemetry-options.js';

/** The trace of a reference in its JSON form: W3C `traceparent`/`tracestate` strings. */
export interface ProxyReferenceTraceJSON {
  /** Topic the object was sent on. */
  readonly topic: string;
  /** `messaging.system` of the broker it came through. */
  readonly system?: string;
  /** The consumer's receive span, the parent of a resolve elsewhere. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** The producer's send span, linked from the resolve. */
  readonly origin?: string;
  readonly originState?: string;
}

/** The JSON form of a {@link ProxyReference}: what crosses to another process or worker. */
export interface ProxyReferenceJSON {
  /** Always `'proxystream.reference'`: tells a reference from other JSON. */
  readonly type: 'proxystream.reference';
  /** Version of this JSON form; currently 1. */
  readonly version: 1;
  /** Key of the object in its store. */
  readonly key: string;
  /** Config from which the store is opened. */
  readonly store: StoreConfig;
  /** One-shot reference: the data is deleted after the first resolve. */
  readonly evict: boolean;
  /** Where the object comes from, for the resolve's span, when the consumer was traced. */
  readonly trace?: ProxyReferenceTraceJSON;
}

/** Options of the {@link ProxyReference} constructor. */
export interface ProxyReferenceOptions<T> {
  /** Key of the object in the store. */
  key: string;
  /**
   * The open store holding the object; or a cache that opens it from `storeConfig`; or factories
   * (as `StreamConsumer`'s `stores` option takes them) through which each resolve opens the store
   * and closes it afterwards.
   */
  store: Store | StoreCache | readonly StoreFactory[];
  /** Config of the store; default `store.config()` (required unless `store` is an open store). */
  storeConfig?: StoreConfig;
  /** One-shot: delete the data after the first resolve. Default `false`. */
  evict?: boolean;
  /** Turns the stored bytes into the object. Default {@link defaultSerializer}. */
  serializer?: Serializer<T>;
  /** Where the object comes from: the resolve's span joins its trace (see {@link ReferenceTrace}). */
  trace?: ReferenceTrace;
  /** Where the resolve's span and byte count go. Default: the global OpenTelemetry providers. */
  telemetry?: TelemetryOptions | false;
}

/** Options of {@link ProxyReference.resolve}. */
export interface ResolveOptions {
  /**
   * Stops waiting: an already aborted signal rejects with `AbortedError` and fetches nothing; an
   * abort during the fetch rejects at once with `AbortedError`. The store's `get` cannot be
   * called back, so the fetch goes on and its result is cached on this reference (a later
   * `resolve()` gets it without fetching again; a one-shot reference still evicts the data).
   */
  signal?: AbortSignal;
}

/** Options of {@link ProxyReference.fromJSON}. */
export interface ReviveReferenceOptions<T> {
  /**
   * Opens the reference's store, as `StreamConsumer`'s `stores` option: the factories of the kinds
   * allowed, or a {@link StoreCache} of them. With factories, the store is opened for the resolve
   * and closed after it; a worker that revives many references shares one `StoreCache` instead,
   * which keeps its stores (and their connections) open until its `close()`.
   */
  stores: readonly StoreFactory[] | StoreCache;
  /** Default {@link defaultSerializer}; must match the producer's. */
  serializer?: Serializer<T>;
  /** Where the resolve's span and byte count go. Default: the global OpenTelemetry providers. */
  telemetry?: TelemetryOptions | false;
}

const UNRESOLVED = 0;
const RESOLVING = 1;
const RESOLVED = 2;

/**
 * A lightweight handle on an object in a store: what a consumer yields for store-backed topics
 * instead of the object. Only {@link resolve} moves the bytes; until then a reference is a key
 * and a store config, and {@link toJSON} turns it into a few hundred bytes another process or
 * `worker_threads` worker revives with {@link ProxyReference.fromJSON}.
 *
 * As in ProxyStore, a one-shot reference (`evict: true`, the producer's default) deletes the
 * stored data when it is first resolved; resolving a copy of it elsewhere afterwards fails with
 * `ObjectNotFoundError`. The resolved value is cached, so `resolve()` on the same instance is cheap.
 *
 * @example
 * ```ts
 * worker.postMessage(reference.toJSON());
 * // in the worker:
 * const frame = await ProxyReference.fromJSON<Uint8Array>(message, { stores }).resolve();
 * ```
 */
export class ProxyReference<T = unknown> {
  /** Key of the object in its store. */
  readonly key: string;
  /** Config of the store holding the object. */
  readonly storeConfig: StoreConfig;
  /** Whether the data is deleted after the first resolve. */
  readonly evict: boolean;
  /** Where the object comes from, when its consumer was traced. */
  readonly trace: ReferenceTrace | undefined;
  /** `undefined` until the first resolve looks it up; `null` when nothing is recorded. */
  #telemetry: ReferenceTelemetry | null | undefined;
  readonly #telemetryOptions: TelemetryOptions | false | undefined;
  readonly #source: Store | StoreCache | readonly StoreFactory[];
  readonly #serializer: Serializer<T>;
  #state = UNRESOLVED;
  #value: T | undefined;
  #pending: Promise<T> | undefined;

  constructor(options: ProxyReferenceOptions<T>) {
    this.key = options.key;
    this.#source = options.store;
    const store = options.store;
    if (options.storeConfig !== undefined) {
      this.storeConfig = options.storeConfig;
    } else if (store instanceof StoreCache || isFactoryList(store)) {
      throw new TypeError(
        'ProxyReference: storeConfig is required when store is a StoreCache or store factories',
      );
    } else {
      this.storeConfig = store.config();
    }
    this.evict = options.evict ?? false;
    this.#serializer = options.serializer ?? (defaultSerializer as Serializer<T>);
    this.trace = options.trace;
    this.#telemetryOptions = options.telemetry;
    const given = telemetryGiven.get(options);
    if (given !== undefined) this.#telemetry = given;
  }

  /** Always `true`: tells a reference from an `InlineItem` among a consumer's items. */
  get isReference(): true {
    return true;
  }

  /** This reference: what to hand on (`toJSON()`), as `item.reference` of any consumer item. */
  get reference(): this {
    return this;
  }

  /** True once {@link resolve} has completed on this instance. */
  get resolved(): boolean {
    return this.#state === RESOLVED;
  }

  /**
   * Fetches, deserialises and caches the object; a one-shot reference then deletes the data.
   * Concurrent calls share one fetch.
   * @throws {@link ObjectNotFoundError} when the data is gone (evicted, expired, never stored).
   * @throws {@link StoreNotAllowedError} when the store kind has no factory in the cache.
   * @throws `AbortedError` when `options.signal` aborts first (see {@link ResolveOptions.signal}).
   */
  resolve(options?: ResolveOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError('resolve aborted'));
    if (this.#state === RESOLVED) return Promise.resolve(this.#value as T);
    if (this.#pending === undefined) {
      this.#state = RESOLVING;
      this.#pending = this.#fetch().then(
        (value) => {
          this.#value = value;
          this.#state = RESOLVED;
          this.#pending = undefined;
          return value;
        },
        (error: unknown) => {
          this.#state = UNRESOLVED;
          this.#pending = undefined;
          throw error;
        },
      );
    }
    if (signal === undefined) return this.#pending;
    return abortable(this.#pending, signal, { message: 'resolve aborted' });
  }

  /** The JSON form; `JSON.stringify(reference)` and `postMessage(reference.toJSON())` use it. */
  toJSON(): ProxyReferenceJSON {
    const trace = this.trace;
    if (trace === undefined) {
      return {
        type: 'proxystream.reference',
        version: 1,
        key: this.key,
        store: this.storeConfig,
        evict: this.evict,
      };
    }
    return {
      type: 'proxystream.reference',
      version: 1,
      key: this.key,
      store: this.storeConfig,
      evict: this.evict,
      trace: traceToJSON(trace),
    };
  }

  /**
   * Revives a reference from {@link toJSON}'s output (an object, or its JSON text).
   * @throws {@link DecodeError} when `json` is not a reference.
   */
  static fromJSON<T = unknown>(
    json: unknown,
    options: ReviveReferenceOptions<T>,
  ): ProxyReference<T> {
    let value = json;
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch (error) {
        throw new DecodeError('reference JSON is not valid JSON', { cause: error });
      }
    }
    const candidate = value as Partial<Record<keyof ProxyReferenceJSON, JsonValue>> | null;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      candidate.type !== 'proxystream.reference' ||
      candidate.version !== 1 ||
      typeof candidate.key !== 'string' ||
      typeof candidate.evict !== 'boolean' ||
      typeof candidate.store !== 'object' ||
      candidate.store === null ||
      Array.isArray(candidate.store) ||
      typeof candidate.store.kind !== 'string' ||
      typeof candidate.store.name !== 'string'
    ) {
      throw new DecodeError(
        'not a proxystream reference (expected the output of ProxyReference.toJSON())',
      );
    }
    return new ProxyReference<T>({
      key: candidate.key,
      store: options.stores,
      storeConfig: candidate.store as StoreConfig,
      evict: candidate.evict,
      serializer: options.serializer,
      trace: traceFromJSON(candidate.trace),
      telemetry: options.telemetry,
    });
  }

  async #fetch(): Promise<T> {
    const source = this.#source;
    if (source instanceof StoreCache) return this.#fetchFrom(await source.open(this.storeConfig));
    if (!isFactoryList(source)) return this.#fetchFrom(source);
    // The factories' own cache for this one resolve: the consumer's way of opening a store from
    // a config (kind checks, refusals), and nothing left open afterwards.
    const stores = new StoreCache(source);
    try {
      return await this.#fetchFrom(await stores.open(this.storeConfig));
    } finally {
      await stores.close();
    }
  }

  async #fetchFrom(store: Store): Promise<T> {
    if (this.#telemetry === undefined) {
      this.#telemetry = referenceTelemetry(this.#telemetryOptions) ?? null;
    }
    const telemetry = this.#telemetry;
    if (telemetry === null) {
      const data = await store.get(this.key);
      if (data === undefined) throw new ObjectNotFoundError(this.key);
      const value = this.#serializer.deserialize(data);
      if (this.evict) await store.evict(this.key);
      return value;
    }
    const spans = telemetry.start(this.trace, this.storeConfig, this.key);
    try {
      const data = await store.get(this.key);
      telemetry.fetched(spans, this.trace, data?.byteLength);
      if (data === undefined) throw new ObjectNotFoundError(this.key);
      const value = this.#serializer.deserialize(data);
      if (this.evict) await store.evict(this.key);
      telemetry.ended(spans);
      return value;
    } catch (error) {
      telemetry.ended(spans, error);
      throw error;
    }
  }
}

function traceToJSON(trace: ReferenceTrace): ProxyReferenceTraceJSON {
  const json: {
    topic: string;
    system?: string;
    traceparent?: string;
    tracestate?: string;
    origin?: string;
    originState?: string;
  } = { topic: trace.topic };
  if (trace.system !== undefined) json.system = trace.system;
  if (trace.parent !== undefined) {
    json.traceparent = toTraceparent(trace.parent);
    if (trace.parent.traceState !== undefined) json.tracestate = trace.parent.traceState;
  }
  if (trace.origin !== undefined) {
    json.origin = toTraceparent(trace.origin);
    if (trace.origin.traceState !== undefined) json.originState = trace.origin.traceState;
  }
  return json;
}

/** The trace of a reference's JSON form; anything malformed is dropped (a trace is never worth a refusal). */
function traceFromJSON(value: unknown): ReferenceTrace | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const json = value as Record<string, unknown>;
  if (typeof json.topic !== 'string') return undefined;
  const parent = fromTraceparent(json.traceparent, json.tracestate);
  const origin = fromTraceparent(json.origin, json.originState);
  const trace: { topic: string; system?: string; parent?: typeof parent; origin?: typeof origin } =
    {
      topic: json.topic,
    };
  if (typeof json.system === 'string') trace.system = json.system;
  if (parent !== undefined) trace.parent = parent;
  if (origin !== undefined) trace.origin = origin;
  return trace;
}

function isFactoryList(
  source: Store | StoreCache | readonly StoreFactory[],
): source is readonly StoreFactory[] {
  return Array.isArray(source);
}

/** True when `value` is a {@link ProxyReference} (what a consumer yields for stored objects). */
export function isProxyReference(value: unknown): value is ProxyReference {
  return value instanceof ProxyReference;
}
