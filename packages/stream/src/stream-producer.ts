import { randomBytes } from 'node:crypto';
import {
  ClosedError,
  type EndOfStreamEvent,
  type EventBatch,
  type EventPublisher,
  type Filter,
  InvalidArgumentError,
  isEventPublisher,
  isPublisher,
  type Metadata,
  type NewObjectEvent,
  type Publisher,
  type Serializer,
  type Store,
  type StoreConfig,
  type StreamEvent,
  TopicClosedError,
} from '@proxystream/protocols';
import { defaultSerializer } from './default-serializer.js';
import { encodeBatch } from './wire-codec.js';

/** Options of {@link StreamProducer.send}. */
export interface SendOptions {
  /**
   * One-shot object: its stored data is deleted after the first resolve, or by a consumer-side
   * filter that drops it. Default `true` (as in ProxyStore). Inline objects have no stored data.
   */
  evict?: boolean;
  /** Metadata for filters and consumers; must be JSON-compatible. Default `{}`. */
  metadata?: Metadata;
}

/** Options of {@link StreamProducer.close}. */
export interface ProducerCloseOptions {
  /** Topics to end first, as with {@link StreamProducer.closeTopics}. Default none. */
  topics?: Iterable<string>;
  /** Close the publisher too. Default `true`; pass `false` to keep using it. */
  publisher?: boolean;
  /** Close the producer's stores (per-topic and default). Default `false`. */
  stores?: boolean;
}

/** Options of the {@link StreamProducer} constructor. */
export interface StreamProducerOptions<T> {
  /** Per-topic stores: objects of these topics go to the store and a key travels in the event. */
  stores?: Readonly<Record<string, Store>> | ReadonlyMap<string, Store>;
  /** Store of every topic not in {@link stores}. Without one, such topics carry objects inline. */
  defaultStore?: Store;
  /** Turns objects into bytes. Default {@link defaultSerializer}. Consumers must use the same. */
  serializer?: Serializer<T>;
  /** Applied to the metadata before buffering; `true` drops the object. Default: keep all. */
  filter?: Filter;
  /** Objects per batch (one broker message). Default `1`. */
  batchSize?: number;
  /**
   * Turns a full batch into one object before it is sent; the sent metadata is the union of the
   * batch's metadata (a later object's value wins on a shared key), and the object is one-shot
   * only if every object of the batch was.
   */
  aggregator?: (objects: T[]) => T;
  /**
   * Longest time in milliseconds an object waits in a partial batch before the batch is sent.
   * Default: no time limit (a partial batch waits for `flush`, `closeTopics` or `close`, as in ProxyStore).
   */
  lingerMs?: number;
  /**
   * Serialised size in bytes below which an object travels inline even on a topic with a store,
   * so small objects skip the store round trip. Default `0` (every object of a store-backed topic goes to the store).
   */
  inlineBelow?: number;
  /** Id of this producer in every batch. Default: 16 random hex characters. */
  producerId?: string;
  /**
   * Batches of one topic handed to the publisher before the earlier ones were accepted. Default
   * `1`: a batch goes out only once the previous one was accepted, so a refused batch does not use
   * up a sequence number. A larger value pipelines sends — one round trip no longer limits a topic
   * to one batch per round trip — for a publisher that keeps concurrent sends in call order (every
   * proxystream shim and the in-process broker do); a refused batch then leaves a gap in the
   * sequence, which consumers report as lost batches. `send` still resolves only when its batch
   * was accepted.
   */
  maxBatchesInFlight?: number;
}

const EMPTY_METADATA: Metadata = Object.freeze({}) as Metadata;
const END_OF_STREAM: EndOfStreamEvent = Object.freeze({ type: 'end-of-stream' });
const RESOLVED: Promise<void> = Promise.resolve();

class TopicState<T> {
  objects: T[] = [];
  metadata: Metadata[] = [];
  evict: boolean[] = [];
  /** Sequence of the next batch; advanced only when the publisher accepted a batch. */
  sequence = 0;
  /** Batches cut but not yet accepted; they are sent one after the other, in order. */
  pending = 0;
  tail: Promise<void> = RESOLVED;
  /** With pipelining: resolves when the last cut batch was handed to the publisher (or failed before). */
  handedOver: Promise<void> = RESOLVED;
  /** With pipelining: batches cut and not yet handed to the publisher (nor failed before). */
  unhanded = 0;
  /** With pipelining: batches handed to the publisher and not yet accepted or refused. */
  inFlight = 0;
  /** With pipelining: a batch waiting for {@link inFlight} to drop below the limit. */
  slotWaiter: (() => void) | undefined;
  /** With pipelining: the oldest batch whose send has not resolved yet, then the later ones in order. */
  oldest: PipelinedBatch | undefined;
  /** With pipelining: the newest batch of the list that starts at {@link oldest}. */
  newest: PipelinedBatch | undefined;
  /** `closeTopics` was called: sends are refused. */
  closed = false;
  /** An end-of-stream event is on its way or was accepted: never send another. */
  ending = false;
  timer: NodeJS.Timeout | undefined;
  storeConfig: StoreConfig | undefined;
  readonly settled = (): void => {
    this.pending--;
  };
  /** Without pipelining: the batch was accepted, so its sequence number is used up. */
  readonly accepted = (): void => {
    this.sequence++;
  };
  onLinger: () => void = () => undefined;

  constructor(
    readonly topic: string,
    readonly store: Store | undefined,
  ) {}
}

/** A batch ready to be handed over, and the keys it put in the store (deleted if it is refused). */
interface PreparedBatch {
  batch: EventBatch;
  keys: string[] | undefined;
}

/**
 * One batch of a pipelined topic, from the moment it is cut until its `send` resolves: the batches
 * of a topic form a list in cut order, so that a send resolves only once its batch and every
 * earlier one were accepted, without a `Promise.all` per batch.
 */
class PipelinedBatch {
  next: PipelinedBatch | undefined = undefined;
  /** Accepted or refused (or failed before it was handed over). */
  settled = false;
  refused = false;
  /** Callers of `flush` & co. waiting until this batch and every earlier one settled. */
  drainWaiters: (() => void)[] | undefined = undefined;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  readonly promise: Promise<void>;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidArgumentError(`${name} must be a number >= 0, got ${value}`);
  }
  return value;
}

/**
 * Sends objects to topics: small ones inline in the event, large ones to a store with only a key
 * in the event. The TypeScript counterpart of ProxyStore's `StreamProducer`.
 *
 * Give it a byte {@link Publisher} (batches are encoded with the wire codec) or an
 * {@link EventPublisher} (batches pass as objects; inline objects are not even serialised, so
 * consumers in the same process receive the very object sent: do not mutate it afterwards).
 *
 * `send` resolves when the object is buffered, or — for the send that completes a batch — when
 * the publisher accepted the batch, so awaiting `send` gives backpressure. Batches of one topic
 * are sent in order; each carries the next sequence number of this producer on that topic.
 *
 * @example
 * ```ts
 * await using producer = new StreamProducer(broker.publisher(), { defaultStore: new FileStore({ directory: '/data/frames' }) });
 * await producer.send('frames', frame, { metadata: { camera: 'left' } });
 * await producer.closeTopics('frames');
 * ```
 */
export class StreamProducer<T = unknown> {
  /** Id of this producer, stable for its lifetime, in every batch it sends. */
  readonly producerId: string;
  readonly #publisher: Publisher | undefined;
  readonly #eventPublisher: EventPublisher | undefined;
  readonly #stores: ReadonlyMap<string, Store>;
  readonly #defaultStore: Store | undefined;
  readonly #serializer: Serializer<T>;
  readonly #filter: Filter | undefined;
  readonly #batchSize: number;
  readonly #aggregator: ((objects: T[]) => T) | undefined;
  readonly #lingerMs: number | undefined;
  readonly #inlineBelow: number;
  readonly #maxInFlight: number;
  readonly #topics = new Map<string, TopicState<T>>();
  #closing: Promise<void> | undefined;
  /** Error of a batch sent by the linger timer, reported by the next call. */
  #lingerError: unknown = undefined;

  constructor(publisher: Publisher | EventPublisher, options: StreamProducerOptions<T> = {}) {
    if (isEventPublisher(publisher)) this.#eventPublisher = publisher;
    else if (isPublisher(publisher)) this.#publisher = publisher;
    else throw new InvalidArgumentError('StreamProducer needs a Publisher or an EventPublisher');
    const stores = options.stores;
    this.#stores =
      stores === undefined
        ? new Map()
        : stores instanceof Map
          ? stores
          : new Map(Object.entries(stores));
    this.#defaultStore = options.defaultStore;
    this.#serializer = options.serializer ?? (defaultSerializer as Serializer<T>);
    this.#filter = options.filter;
    this.#batchSize = positiveInteger(options.batchSize, 1, 'batchSize');
    this.#aggregator = options.aggregator;
    this.#lingerMs = nonNegative(options.lingerMs, 'lingerMs');
    this.#inlineBelow = nonNegative(options.inlineBelow, 'inlineBelow') ?? 0;
    this.#maxInFlight = positiveInteger(options.maxBatchesInFlight, 1, 'maxBatchesInFlight');
    this.producerId = options.producerId ?? randomBytes(8).toString('hex');
  }

  /**
   * Buffers `object` for `topic` and sends the batch once it holds `batchSize` objects.
   * An object the producer's filter drops resolves at once and is never sent.
   * @throws {@link TopicClosedError} when `topic` was closed with {@link closeTopics}.
   * @throws {@link ClosedError} after {@link close}.
   */
  send(topic: string, object: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('StreamProducer'));
    const failure = this.#takeLingerError();
    if (failure !== undefined) return Promise.reject(failure);
    const state = this.#topic(topic);
    if (state.closed) return Promise.reject(new TopicClosedError(topic));
    const metadata = options?.metadata ?? EMPTY_METADATA;
    if (this.#filter !== undefined) {
      try {
        if (this.#filter(metadata)) return RESOLVED;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    state.objects.push(object);
    state.metadata.push(metadata);
    state.evict.push(options?.evict ?? true);
    if (state.objects.length >= this.#batchSize) return this.#flushState(state, false);
    if (this.#lingerMs !== undefined && state.timer === undefined) {
      state.timer = setTimeout(state.onLinger, this.#lingerMs);
    }
    return RESOLVED;
  }

  /** Sends every partial batch; resolves when the publisher accepted everything sent so far. */
  async flush(): Promise<void> {
    const failure = this.#takeLingerError();
    if (failure !== undefined) throw failure;
    await Promise.all(Array.from(this.#topics.values(), (state) => this.#flushState(state, false)));
  }

  /** Sends the partial batch of `topic`; resolves when the publisher accepted everything sent so far on it. */
  async flushTopic(topic: string): Promise<void> {
    const failure = this.#takeLingerError();
    if (failure !== undefined) throw failure;
    const state = this.#topics.get(topic);
    if (state !== undefined) await this.#flushState(state, false);
  }

  /**
   * Ends `topics`: sends their partial batches with an end-of-stream event after the last object,
   * so it arrives after everything sent before it. Later sends to them reject with
   * {@link TopicClosedError}; closing a topic again sends nothing (unless the first end-of-stream
   * was refused by the publisher, in which case it is sent again).
   */
  async closeTopics(...topics: string[]): Promise<void> {
    await Promise.all(
      topics.map((topic) => {
        const state = this.#topic(topic);
        state.closed = true;
        if (state.ending) return this.#tailOf(state);
        state.ending = true;
        return this.#flushState(state, true).catch((error: unknown) => {
          state.ending = false;
          throw error;
        });
      }),
    );
  }

  /**
   * Ends `topics`, sends every partial batch (nothing buffered is dropped), then closes the
   * publisher and, if asked, the stores. Later sends reject with {@link ClosedError}. Safe to call twice.
   */
  close(options: ProducerCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options);
    return this.#closing;
  }

  /** Same as {@link close} with default options; lets `await using` close the producer. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(options: ProducerCloseOptions): Promise<void> {
    let failure: unknown;
    try {
      if (options.topics !== undefined) await this.closeTopics(...options.topics);
      await Promise.all(
        Array.from(this.#topics.values(), (state) => this.#flushState(state, false)),
      );
    } catch (error) {
      failure = error;
    }
    for (const state of this.#topics.values()) {
      if (state.timer !== undefined) clearTimeout(state.timer);
      state.timer = undefined;
    }
    failure ??= this.#takeLingerError();
    try {
      if (options.publisher ?? true) await (this.#publisher ?? this.#eventPublisher)!.close();
      if (options.stores ?? false) {
        const stores = new Set(this.#stores.values());
        if (this.#defaultStore !== undefined) stores.add(this.#defaultStore);
        await Promise.all(Array.from(stores, (store) => store.close()));
      }
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw failure;
  }

  #takeLingerError(): unknown {
    const error = this.#lingerError;
    this.#lingerError = undefined;
    return error;
  }

  #topic(topic: string): TopicState<T> {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      const store = this.#stores.get(topic) ?? this.#defaultStore;
      const created = new TopicState<T>(topic, store);
      created.onLinger = () => {
        created.timer = undefined;
        this.#flushState(created, false).catch((error: unknown) => {
          this.#lingerError ??= error;
        });
      };
      state = created;
      this.#topics.set(topic, state);
    }
    return state;
  }

  /** Resolves when every batch of the topic cut so far was accepted or refused; never rejects. */
  #tailOf(state: TopicState<T>): Promise<void> {
    if (this.#maxInFlight === 1) return state.tail;
    const newest = state.newest;
    if (newest === undefined) return RESOLVED;
    return new Promise<void>((resolve) => {
      if (newest.drainWaiters === undefined) newest.drainWaiters = [resolve];
      else newest.drainWaiters.push(resolve);
    });
  }

  /** Cuts the buffered objects into a batch and queues it behind the topic's batches in flight. */
  #flushState(state: TopicState<T>, endOfStream: boolean): Promise<void> {
    if (state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.objects.length === 0 && !endOfStream) return this.#tailOf(state);
    const objects = state.objects;
    const metadata = state.metadata;
    const evict = state.evict;
    state.objects = [];
    state.metadata = [];
    state.evict = [];
    if (this.#maxInFlight > 1)
      return this.#pipelineBatch(state, objects, metadata, evict, endOfStream);
    state.pending++;
    const run =
      state.pending === 1
        ? this.#sendBatch(state, objects, metadata, evict, endOfStream)
        : state.tail.then(() => this.#sendBatch(state, objects, metadata, evict, endOfStream));
    state.tail = run.then(state.settled, state.settled);
    return run;
  }

  /**
   * Pipelined variant of the send chain: the batch is handed to the publisher right after the
   * previous one was handed over (and while fewer than `maxBatchesInFlight` wait for acceptance).
   * The returned promise resolves once this batch and every earlier one were accepted, and
   * rejects as soon as this batch was refused.
   */
  #pipelineBatch(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): Promise<void> {
    const entry = new PipelinedBatch();
    if (state.newest === undefined) state.oldest = entry;
    else state.newest.next = entry;
    state.newest = entry;
    if (state.unhanded === 0 && state.inFlight < this.#maxInFlight && state.store === undefined) {
      // Nothing ahead waits to be handed over, a slot is free and no store round trip is needed:
      // hand the batch over now, without a hop through the microtask queue.
      let batch: EventBatch;
      try {
        batch = this.#inlineBatch(state, objects, metadata, evict, endOfStream);
      } catch (error) {
        this.#settle(state, entry, true, error);
        return entry.promise;
      }
      this.#track(state, entry, this.#handOver(state, batch), undefined);
      return entry.promise;
    }
    state.unhanded++;
    let handedOver!: () => void;
    const previous = state.handedOver;
    state.handedOver = new Promise<void>((resolve) => {
      handedOver = resolve;
    });
    void previous.then(() =>
      this.#handOverLater(state, entry, objects, metadata, evict, endOfStream, handedOver),
    );
    return entry.promise;
  }

  /** Slow path of {@link #pipelineBatch}: store round trip and/or waiting for a free slot. */
  async #handOverLater(
    state: TopicState<T>,
    entry: PipelinedBatch,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    handedOver: () => void,
  ): Promise<void> {
    let prepared: PreparedBatch;
    try {
      prepared =
        state.store === undefined
          ? {
              batch: this.#inlineBatch(state, objects, metadata, evict, endOfStream),
              keys: undefined,
            }
          : await this.#storedBatch(state, state.store, objects, metadata, evict, endOfStream);
      await this.#slot(state);
    } catch (error) {
      state.unhanded--;
      handedOver();
      this.#settle(state, entry, true, error);
      return;
    }
    // The batch's sequence was read when it was prepared; no other batch of the topic was handed
    // over since (hand-overs are serialised), so it is still the topic's next one.
    const accepted = this.#handOver(state, prepared.batch);
    state.unhanded--;
    handedOver();
    this.#track(state, entry, accepted, prepared.keys);
  }

  /** Gives a prepared batch to the publisher; the sequence is used up, accepted or not. */
  #handOver(state: TopicState<T>, batch: EventBatch): Promise<void> {
    state.inFlight++;
    state.sequence++;
    return this.#publish(batch);
  }

  /** Sends `batch` through the publisher (encoded, unless it takes events); never throws synchronously. */
  #publish(batch: EventBatch): Promise<void> {
    try {
      return this.#eventPublisher !== undefined
        ? this.#eventPublisher.sendEvents(batch)
        : this.#publisher!.send(batch.topic, encodeBatch(batch));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes the data of a refused batch: nobody will ever hear of these keys. */
  async #forget(store: Store, keys: readonly string[]): Promise<void> {
    await Promise.allSettled(keys.map((key) => store.evict(key)));
  }

  /** Settles `entry` when the publisher accepted or refused it, and frees its slot. */
  #track(
    state: TopicState<T>,
    entry: PipelinedBatch,
    accepted: Promise<void>,
    keys: string[] | undefined,
  ): void {
    accepted.then(
      () => {
        this.#freeSlot(state);
        this.#settle(state, entry, false, undefined);
      },
      async (error: unknown) => {
        if (keys !== undefined) await this.#forget(state.store!, keys);
        this.#freeSlot(state);
        this.#settle(state, entry, true, error);
      },
    );
  }

  #freeSlot(state: TopicState<T>): void {
    state.inFlight--;
    const waiter = state.slotWaiter;
    state.slotWaiter = undefined;
    waiter?.();
  }

  /**
   * Records the outcome of `entry`: a refusal rejects its send at once; an acceptance resolves it
   * once every earlier batch settled too. Then releases every leading settled batch.
   */
  #settle(state: TopicState<T>, entry: PipelinedBatch, refused: boolean, error: unknown): void {
    entry.settled = true;
    if (refused) {
      entry.refused = true;
      entry.reject(error);
    }
    let head = state.oldest;
    while (head?.settled) {
      if (!head.refused) head.resolve();
      const waiters = head.drainWaiters;
      if (waiters !== undefined) for (const wake of waiters) wake();
      head = head.next;
    }
    state.oldest = head;
    if (head === undefined) state.newest = undefined;
  }

  /** Waits until fewer than `maxBatchesInFlight` batches of the topic wait for acceptance. */
  async #slot(state: TopicState<T>): Promise<void> {
    while (state.inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve) => {
        state.slotWaiter = resolve;
      });
    }
  }

  /** Sends one batch (without pipelining: the previous batch of the topic was accepted or refused). */
  #sendBatch(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): Promise<void> {
    const store = state.store;
    if (store !== undefined)
      return this.#sendStoredBatch(state, store, objects, metadata, evict, endOfStream);
    let batch: EventBatch;
    try {
      batch = this.#inlineBatch(state, objects, metadata, evict, endOfStream);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish(batch).then(state.accepted);
  }

  async #sendStoredBatch(
    state: TopicState<T>,
    store: Store,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): Promise<void> {
    const { batch, keys } = await this.#storedBatch(
      state,
      store,
      objects,
      metadata,
      evict,
      endOfStream,
    );
    try {
      await this.#publish(batch);
    } catch (error) {
      if (keys !== undefined) await this.#forget(store, keys);
      throw error;
    }
    state.sequence++;
  }

  /** The batch's objects merged by the aggregator into one: metadata united (later values win), evicted if all were. */
  #aggregate(objects: T[], metadata: Metadata[], evict: boolean[]): [T[], Metadata[], boolean[]] {
    return [
      [this.#aggregator!(objects)],
      [metadata.length === 1 ? metadata[0]! : Object.assign({}, ...metadata)],
      [evict.every(Boolean)],
    ];
  }

  /** The batch of a topic without a store: every object inline (serialised unless the publisher is live). */
  #inlineBatch(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): EventBatch {
    if (this.#aggregator !== undefined && objects.length > 0) {
      [objects, metadata, evict] = this.#aggregate(objects, metadata, evict);
    }
    const count = objects.length;
    const events: StreamEvent[] = new Array(endOfStream ? count + 1 : count);
    const live = this.#eventPublisher !== undefined;
    for (let i = 0; i < count; i++) {
      events[i] = {
        type: 'new-object',
        metadata: metadata[i]!,
        evict: evict[i]!,
        body: live
          ? { kind: 'live', value: objects[i] }
          : { kind: 'inline', data: this.#serializer.serialize(objects[i]!) },
      };
    }
    if (endOfStream) events[count] = END_OF_STREAM;
    return { topic: state.topic, producerId: this.producerId, sequence: state.sequence, events };
  }

  /**
   * The batch of a topic with a store: objects below `inlineBelow` inline, the others put in one
   * `put` or `putBatch`; returns the keys put, if any.
   */
  async #storedBatch(
    state: TopicState<T>,
    store: Store,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): Promise<PreparedBatch> {
    if (this.#aggregator !== undefined && objects.length > 0) {
      [objects, metadata, evict] = this.#aggregate(objects, metadata, evict);
    }
    const count = objects.length;
    const events: StreamEvent[] = new Array(endOfStream ? count + 1 : count);
    const live = this.#eventPublisher !== undefined;
    let keys: string[] | undefined;
    const bound = this.#placeInline(objects, metadata, evict, events, live);
    if (bound !== undefined) keys = await this.#putStored(store, bound, metadata, evict, events);
    if (endOfStream) events[count] = END_OF_STREAM;
    const sequence = state.sequence;
    if (keys !== undefined && keys.length > 0) {
      state.storeConfig ??= store.config();
      return {
        batch: {
          topic: state.topic,
          producerId: this.producerId,
          sequence,
          store: state.storeConfig,
          events,
        },
        keys,
      };
    }
    return { batch: { topic: state.topic, producerId: this.producerId, sequence, events }, keys };
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
    live: boolean,
  ): { positions: number[]; data: Uint8Array[] } | undefined {
    let bound: { positions: number[]; data: Uint8Array[] } | undefined;
    for (let i = 0; i < objects.length; i++) {
      const data = this.#serializer.serialize(objects[i]!);
      if (data.byteLength < this.#inlineBelow) {
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
  ): Promise<string[]> {
    const keys =
      bound.data.length === 1
        ? [await store.put(bound.data[0]!)]
        : await store.putBatch(bound.data);
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
