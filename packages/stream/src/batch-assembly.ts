import type {
  EndOfStreamEvent,
  EventBatch,
  Metadata,
  NewObjectEvent,
  PutOptions,
  Serializer,
  Store,
  StoreConfig,
  StreamEvent,
  UnsentObject,
} from '@proxystream/protocols';

import type { BatchTelemetry } from './producer-telemetry.js';

const END_OF_STREAM: EndOfStreamEvent = Object.freeze({ type: 'end-of-stream' });
/** The objects of a put were all sent with `owned: true`: the store may keep their bytes. */
const HANDED_OVER: PutOptions = Object.freeze({ owned: true });

/** The topic a batch is assembled for: its name, the sequence of its next batch, its store config. */
export interface BatchTarget {
  readonly topic: string;
  /** Sequence of the next batch handed to the publisher. */
  readonly sequence: number;
  /** The store's config, read once on the first stored batch. */
  storeConfig: StoreConfig | undefined;
}

/**
 * The objects of a batch from the moment it is cut until the publisher accepted or refused it:
 * what a refusal or an incomplete close reports as unsent. The arrays are the batch's own: an
 * object withdrawn by an aborted send is taken out of them, so it is not reported either.
 */
export class CutBatch<T> {
  constructor(
    readonly topic: string,
    readonly objects: T[],
    readonly metadata: Metadata[],
    readonly evict: boolean[],
  ) {}

  unsent(into: UnsentObject<T>[] = []): UnsentObject<T>[] {
    for (let i = 0; i < this.objects.length; i++) {
      into.push({
        topic: this.topic,
        object: this.objects[i]!,
        metadata: this.metadata[i]!,
        evict: this.evict[i]!,
      });
    }
    return into;
  }
}

/** A batch ready to be handed over, and the keys it put in the store (deleted if it is refused). */
export interface PreparedBatch {
  batch: EventBatch;
  keys: string[] | undefined;
}

/** Options of {@link BatchAssembly}. */
export interface BatchAssemblyOptions<T> {
  producerId: string;
  serializer: Serializer<T>;
  aggregator: ((objects: T[]) => T) | undefined;
  inlineBelow: number;
  /** The publisher takes events: inline objects pass as live values, not serialised. */
  live: boolean;
}

/**
 * Turns the objects of a cut batch into an {@link EventBatch}: aggregated if asked, serialised
 * (unless the publisher is live), inline or put in the topic's store.
 */
export class BatchAssembly<T> {
  readonly #producerId: string;
  readonly #serializer: Serializer<T>;
  readonly #aggregator: ((objects: T[]) => T) | undefined;
  readonly #inlineBelow: number;
  readonly #live: boolean;
  /**
   * Bytes of the largest object serialised so far: what an adaptive batch counts for an object
   * whose size it cannot tell before serialising it.
   */
  largestSerialized = 0;

  constructor(options: BatchAssemblyOptions<T>) {
    this.#producerId = options.producerId;
    this.#serializer = options.serializer;
    this.#aggregator = options.aggregator;
    this.#inlineBelow = options.inlineBelow;
    this.#live = options.live;
  }

  /**
   * Whether an assembled batch still has one event per object, so that the last object can be
   * taken out of it (not so when an aggregator merged them).
   */
  get oneEventPerObject(): boolean {
    return this.#aggregator === undefined;
  }

  /** The batch of a topic without a store: every object inline (serialised unless the publisher is live). */
  inline(
    target: BatchTarget,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    telemetry?: BatchTelemetry,
  ): EventBatch {
    if (this.#aggregator !== undefined && objects.length > 0) {
      [objects, metadata, evict] = this.#aggregate(objects, metadata, evict);
    }
    const count = objects.length;
    const events: StreamEvent[] = new Array(endOfStream ? count + 1 : count);
    if (this.#live) {
      for (let i = 0; i < count; i++) {
        events[i] = {
          type: 'new-object',
          metadata: metadata[i]!,
          evict: evict[i]!,
          body: { kind: 'live', value: objects[i] },
        };
      }
    } else {
      let largest = this.largestSerialized;
      for (let i = 0; i < count; i++) {
        const data = this.#serializer.serialize(objects[i]!);
        if (data.byteLength > largest) largest = data.byteLength;
        if (telemetry !== undefined) {
          telemetry.inlineBytes += data.byteLength;
          telemetry.size(i, data.byteLength);
        }
        events[i] = {
          type: 'new-object',
          metadata: metadata[i]!,
          evict: evict[i]!,
          body: { kind: 'inline', data },
        };
      }
      this.largestSerialized = largest;
    }
    telemetry?.stamp(events, count);
    if (endOfStream) events[count] = END_OF_STREAM;
    return {
      topic: target.topic,
      producerId: this.#producerId,
      sequence: target.sequence,
      events,
    };
  }

  /**
   * The batch of a topic with a store: objects below `inlineBelow` inline, the others put in one
   * `put` or `putBatch`; returns the keys put, if any. The sequence is read after the put.
   */
  async stored(
    target: BatchTarget,
    store: Store,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    owned = false,
    telemetry?: BatchTelemetry,
  ): Promise<PreparedBatch> {
    if (this.#aggregator !== undefined && objects.length > 0) {
      [objects, metadata, evict] = this.#aggregate(objects, metadata, evict);
    }
    const count = objects.length;
    const events: StreamEvent[] = new Array(endOfStream ? count + 1 : count);
    let keys: string[] | undefined;
    const bound = this.#placeInline(objects, metadata, evict, events, telemetry);
    if (bound !== undefined) {
      keys = await this.#putStored(store, bound, metadata, evict, events, owned, telemetry);
    }
    telemetry?.stamp(events, count);
    if (endOfStream) events[count] = END_OF_STREAM;
    const sequence = target.sequence;
    if (keys !== undefined && keys.length > 0) {
      target.storeConfig ??= store.config();
      return {
        batch: {
          topic: target.topic,
          producerId: this.#producerId,
          sequence,
          store: target.storeConfig,
          events,
        },
        keys,
      };
    }
    return {
      batch: { topic: target.topic, producerId: this.#producerId, sequence, events },
      keys,
    };
  }

  /** The batch's objects merged by the aggregator into one: metadata united (later values win), evicted if all were. */
  #aggregate(objects: T[], metadata: Metadata[], evict: boolean[]): [T[], Metadata[], boolean[]] {
    return [
      [this.#aggregator!(objects)],
      [metadata.length === 1 ? metadata[0]! : Object.assign({}, ...metadata)],
      [evict.every(Boolean)],
    ];
  }

  /**
   * Serialises the batch and fills `events` with the objects below `inlineBelow`; returns the
   * positions and bytes of the others (which go to the store), or `undefined` when there are none.
   */
  #placeInline(
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    events: StreamEvent[],
    telemetry: BatchTelemetry | undefined,
  ): { positions: number[]; data: Uint8Array[] } | undefined {
    let bound: { positions: number[]; data: Uint8Array[] } | undefined;
    const live = this.#live;
    for (let i = 0; i < objects.length; i++) {
      const data = this.#serializer.serialize(objects[i]!);
      if (data.byteLength > this.largestSerialized) this.largestSerialized = data.byteLength;
      telemetry?.size(i, data.byteLength);
      if (data.byteLength < this.#inlineBelow) {
        if (telemetry !== undefined) telemetry.inlineBytes += data.byteLength;
        events[i] = {
          type: 'new-object',
          metadata: metadata[i]!,
          evict: evict[i]!,
          body: live ? { kind: 'live', value: objects[i] } : { kind: 'inline', data },
        };
      } else {
        bound ??= { positions: [], data: [] };
        bound.positions.push(i);
        bound.data.push(data);
      }
    }
    return bound;
  }

  /** Puts the store-bound objects in one `put` or `putBatch` and fills their events; returns the keys. */
  async #putStored(
    store: Store,
    bound: { positions: number[]; data: Uint8Array[] },
    metadata: Metadata[],
    evict: boolean[],
    events: StreamEvent[],
    owned: boolean,
    telemetry: BatchTelemetry | undefined,
  ): Promise<string[]> {
    const options = owned ? HANDED_OVER : undefined;
    let keys: string[];
    if (telemetry === undefined) {
      keys =
        bound.data.length === 1
          ? [await store.put(bound.data[0]!, options)]
          : await store.putBatch(bound.data, options);
    } else {
      let bytes = 0;
      for (const data of bound.data) bytes += data.byteLength;
      const span = telemetry.storeSpan(store, bound.positions);
      try {
        keys =
          bound.data.length === 1
            ? [await store.put(bound.data[0]!, options)]
            : await store.putBatch(bound.data, options);
      } catch (error) {
        telemetry.endStoreSpan(span, bytes, error);
        throw error;
      }
      telemetry.endStoreSpan(span, bytes);
      telemetry.storedBytes += bytes;
    }
    for (let j = 0; j < bound.positions.length; j++) {
      const i = bound.positions[j]!;
      const event: NewObjectEvent = {
        type: 'new-object',
        metadata: metadata[i]!,
        evict: evict[i]!,
        body: { kind: 'stored', key: keys[j]! },
      };
      events[i] = event;
    }
    return keys;
  }
}
