/** A JSON value: what metadata and store configs may hold so that they cross any wire. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** User metadata attached to an object; filters see it, consumers receive it. */
export type Metadata = { [key: string]: JsonValue };

/**
 * A descriptor from which another process can open the same store: `kind` picks the store
 * implementation, the rest is that store's own settings. It never holds credentials unless the
 * store's owner explicitly asked for it.
 */
export interface StoreConfig {
  /** Store implementation, e.g. `'file'`, `'memory'`, `'redis'`, `'nats-object'`. */
  readonly kind: string;
  /** Identifies one store instance among several of the same kind. */
  readonly name: string;
  /** Implementation-specific settings. */
  readonly [setting: string]: JsonValue;
}

/** Announces one new object on a topic. */
export interface NewObjectEvent {
  readonly type: 'new-object';
  /** The producer's metadata for the object. */
  readonly metadata: Metadata;
  /** When true the stored data is deleted after its first resolve (a one-shot reference). */
  readonly evict: boolean;
  /** Where the object lives: inline bytes, a live object (event-level brokers only) or a store key. */
  readonly body: ObjectBody;
  /**
   * The W3C trace context of the producer's send span for this object, when the producer was
   * traced (see `@proxystream/stream`'s tracing). Absent otherwise; a consumer ignores it unless
   * it is traced too.
   */
  readonly trace?: TraceContext;
}

/**
 * A W3C trace context (`traceparent` and `tracestate`) as plain data, so that protocols needs no
 * tracing library: what an object carries from its send span to the consumer and beyond.
 */
export interface TraceContext {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex characters, not all zero: the span the receiver links to. */
  readonly spanId: string;
  /** The W3C trace flags byte; bit 0 is "sampled". */
  readonly traceFlags: number;
  /** The `tracestate` header value, when there is one (at most 512 characters). */
  readonly traceState?: string;
}

/** The object itself, serialised, travelling inside the event. */
export interface InlineBody {
  readonly kind: 'inline';
  readonly data: Uint8Array;
}

/** The object itself, unserialised; only event-level brokers in one process carry this. */
export interface LiveBody {
  readonly kind: 'live';
  readonly value: unknown;
}

/** A key in the store named by the batch's {@link EventBatch.store}. */
export interface StoredBody {
  readonly kind: 'stored';
  readonly key: string;
}

/** Where a {@link NewObjectEvent}'s object is. */
export type ObjectBody = InlineBody | LiveBody | StoredBody;

/** The producer announces that it will send nothing more on this topic. */
export interface EndOfStreamEvent {
  readonly type: 'end-of-stream';
}

/** Any event of a stream. */
export type StreamEvent = NewObjectEvent | EndOfStreamEvent;

/** Events of one topic from one producer, sent as one broker message. */
export interface EventBatch {
  /** Topic the batch belongs to. */
  readonly topic: string;
  /** Random id of the producer, stable for its lifetime. */
  readonly producerId: string;
  /** Per-producer, per-topic batch counter starting at 0; lets consumers detect gaps and duplicates. */
  readonly sequence: number;
  /** Store holding the data of `stored` bodies, if any. */
  readonly store?: StoreConfig;
  /** The events, in order. */
  readonly events: readonly StreamEvent[];
}
