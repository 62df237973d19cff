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
const noop = (): void => undefined;

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
  /** With pipelining: batches handed to the publisher and not yet accepted or refused. */
  inFlight = 0;
  /** With pipelining: a batch waiting for {@link inFlight} to drop below the limit. */
  slotWaiter: (() => void) | undefined;
  /** `closeTopics` was called: sends are refused. */
  closed = false;
  /** An end-of-stream event is on its way or was accepted: never send another. */
  ending = false;
  timer: NodeJS.Timeout | undefined;
  storeConfig: StoreConfig | undefined;
  readonly settled = (): void => {
    this.pending--;
  };
  onLinger: () => void = () => undefined;

  constructor(
    readonly topic: string,
    readonly store: Store | undefined,
  ) {}
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
        if (state.ending) return state.tail;
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

  /** Cuts the buffered objects into a batch and queues it behind the topic's batches in flight. */
  #flushState(state: TopicState<T>, endOfStream: boolean): Promise<void> {
    if (state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.objects.length === 0 && !endOfStream) return state.tail;
    const objects = state.objects;
    const metadata = state.metadata;
    const evict = state.evict;
    state.objects = [];
    state.metadata = [];
    state.evict = [];
    state.pending++;
    if (this.#maxInFlight > 1)
      return this.#pipelineBatch(state, objects, metadata, evict, endOfStream);
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
   */
  #pipelineBatch(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
  ): Promise<void> {
    let handedOver!: () => void;
    const previous = state.handedOver;
    state.handedOver = new Promise<void>((resolve) => {
      handedOver = resolve;
    });
    const run = previous.then(() =>
      this.#sendBatch(state, objects, metadata, evict, endOfStream, handedOver),
    );
    const earlier = state.tail;
    const settled = run.then(state.settled, state.settled);
    state.tail = earlier === RESOLVED ? settled : Promise.all([earlier, settled]).then(noop);
    // Resolves once this batch and every earlier one were accepted (`earlier` never rejects).
    return earlier === RESOLVED ? run : Promise.all([earlier, run]).then(noop);
  }

  /** Waits until fewer than `maxBatchesInFlight` batches of the topic wait for acceptance. */
  async #slot(state: TopicState<T>): Promise<void> {
    while (state.inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve) => {
        state.slotWaiter = resolve;
      });
    }
  }

  async #sendBatch(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    handedOver?: () => void,
  ): Promise<void> {
    try {
      await this.#prepareAndSend(state, objects, metadata, evict, endOfStream, handedOver);
    } finally {
      handedOver?.();
    }
  }

  async #prepareAndSend(
    state: TopicState<T>,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    handedOver: (() => void) | undefined,
  ): Promise<void> {
    if (this.#aggregator !== undefined && objects.length > 0) {
      objects = [this.#aggregator(objects)];
      metadata = [metadata.length === 1 ? metadata[0]! : Object.assign({}, ...metadata)];
      evict = [evict.every(Boolean)];
    }
    const count = objects.length;
    const events: StreamEvent[] = new Array(endOfStream ? count + 1 : count);
    const store = state.store;
    const live = this.#eventPublisher !== undefined;
    let keys: string[] | undefined;
    if (store === undefined) {
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
    } else {
      const bound = this.#placeInline(objects, metadata, evict, events, live);
      if (bound !== undefined) keys = await this.#putStored(store, bound, metadata, evict, events);
    }
    if (endOfStream) events[count] = END_OF_STREAM;
    let batch: EventBatch;
    if (keys !== undefined && keys.length > 0) {
      state.storeConfig ??= store!.config();
      batch = {
        topic: state.topic,
        producerId: this.producerId,
        sequence: state.sequence,
        store: state.storeConfig,
        events,
      };
    } else {
      batch = { topic: state.topic, producerId: this.producerId, sequence: state.sequence, events };
    }
    if (handedOver !== undefined) {
      // Pipelined: the sequence is used up when the batch is handed over, accepted or not.
      await this.#slot(state);
      state.inFlight++;
      state.sequence++;
      let accepted: Promise<void>;
      try {
        accepted =
          this.#eventPublisher !== undefined
            ? this.#eventPublisher.sendEvents(batch)
            : this.#publisher!.send(state.topic, encodeBatch(batch));
      } catch (error) {
        accepted = Promise.reject(error);
      }
      handedOver();
      try {
        await accepted;
      } catch (error) {
        if (keys !== undefined) await Promise.allSettled(keys.map((key) => store!.evict(key)));
        throw error;
      } finally {
        state.inFlight--;
        const waiter = state.slotWaiter;
        state.slotWaiter = undefined;
        waiter?.();
      }
      return;
    }
    try {
      if (this.#eventPublisher !== undefined) await this.#eventPublisher.sendEvents(batch);
      else await this.#publisher!.send(state.topic, encodeBatch(batch));
    } catch (error) {
      // Nobody will ever hear of these keys: delete their data rather than leak it.
      if (keys !== undefined) await Promise.allSettled(keys.map((key) => store!.evict(key)));
      throw error;
    }
    state.sequence++;
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
