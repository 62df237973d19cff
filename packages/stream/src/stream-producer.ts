import { randomBytes } from 'node:crypto';
import {
  ClosedError,
  CloseIncompleteError,
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
  SendRefusedError,
  type Serializer,
  type Store,
  type StoreConfig,
  type StreamEvent,
  TopicClosedError,
  type UnsentObject,
} from '@proxystream/protocols';
import { type BoundedCloseOptions, closeTimeout, settleWithin } from './bounded-close.js';
import { defaultSerializer } from './default-serializer.js';
import { nonNegative, positiveInteger } from './option-checks.js';
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

/**
 * Options of {@link StreamProducer.close}. `timeoutMs` (default 30 000) and `signal` bound how
 * long it waits for the publisher; past them it rejects with `CloseIncompleteError`, listing the
 * objects not confirmed as accepted.
 */
export interface ProducerCloseOptions extends BoundedCloseOptions {
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
  /**
   * Sends an empty batch (a heartbeat: no objects, the next sequence number) on every open topic
   * that sent nothing for this many ms and has nothing buffered, so that a consumer with
   * `idleTimeoutMs` (set it to a few heartbeats) tells a quiet producer from a dead one or a lost
   * end-of-stream, and sees a lost last batch as a gap at the next heartbeat. The timer does not
   * keep the process alive. A refused heartbeat is not reported (it carried nothing); the next
   * send on a broker that still refuses is. Default: no heartbeats.
   */
  heartbeatMs?: number;
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
  /** When the last batch was cut (only tracked with heartbeats). */
  lastCut = 0;
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

/**
 * The objects of a batch from the moment it is cut until the publisher accepted or refused it:
 * what a refusal or an incomplete close reports as unsent.
 */
class CutBatch<T> {
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

/**
 * Waits for every one of `sends`; when some were refused, throws one {@link SendRefusedError}
 * listing the unsent objects of all of them (so none goes unreported), else the first error.
 */
async function allReported<T>(sends: Promise<void>[]): Promise<void> {
  const outcomes = await Promise.allSettled(sends);
  const refused: SendRefusedError<T>[] = [];
  let other: unknown;
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') continue;
    if (outcome.reason instanceof SendRefusedError) refused.push(outcome.reason);
    else other ??= outcome.reason;
  }
  if (refused.length === 0) {
    if (other !== undefined) throw other;
    return;
  }
  throw mergeRefusals(refused);
}

/** One {@link SendRefusedError} for several: every unsent object, in order; the first cause. */
function mergeRefusals<T>(errors: SendRefusedError<T>[]): SendRefusedError<T> {
  if (errors.length === 1) return errors[0]!;
  const unsent = errors.flatMap((error) => error.unsent);
  return new SendRefusedError(unsent, { cause: errors[0]!.cause });
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
  readonly #heartbeatMs: number | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #topics = new Map<string, TopicState<T>>();
  #closing: Promise<void> | undefined;
  /** Batches cut and not yet accepted or refused, in cut order. */
  readonly #unsettled = new Set<CutBatch<T>>();
  /** Refusals of batches the linger timer sent, reported together by the next call. */
  #lingerErrors: SendRefusedError<T>[] = [];

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
    this.#batchSize = positiveInteger(options.batchSize, 'batchSize', 1);
    this.#aggregator = options.aggregator;
    this.#lingerMs = nonNegative(options.lingerMs, 'lingerMs', undefined);
    this.#inlineBelow = nonNegative(options.inlineBelow, 'inlineBelow', 0);
    this.#maxInFlight = positiveInteger(options.maxBatchesInFlight, 'maxBatchesInFlight', 1);
    const heartbeatMs = options.heartbeatMs;
    if (heartbeatMs !== undefined) {
      if (!(typeof heartbeatMs === 'number' && heartbeatMs > 0 && Number.isFinite(heartbeatMs))) {
        throw new InvalidArgumentError(
          `heartbeatMs must be a finite number > 0, got ${heartbeatMs}`,
        );
      }
      this.#heartbeatMs = heartbeatMs;
      this.#heartbeat = setInterval(() => this.#beat(), Math.max(1, heartbeatMs / 2));
      this.#heartbeat.unref();
    }
    this.producerId = options.producerId ?? randomBytes(8).toString('hex');
  }

  /**
   * Buffers `object` for `topic` and sends the batch once it holds `batchSize` objects.
   * An object the producer's filter drops resolves at once and is never sent.
   *
   * A resolved `send` means the object was accepted, or is buffered and will be: if its batch is
   * later refused by the publisher, the call that sent the batch (the `send` that filled it,
   * `flush`, `closeTopics`, `close`, or — for a batch the `lingerMs` timer sent — the next of
   * these calls) rejects with {@link SendRefusedError}, whose `unsent` lists every object of the
   * batch to send again, those whose `send` had resolved included. Nothing is dropped silently.
   * @throws {@link SendRefusedError} when the batch this object completed was refused.
   * @throws {@link TopicClosedError} when `topic` was closed with {@link closeTopics}.
   * @throws {@link ClosedError} after {@link close}.
   */
  send(topic: string, object: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('StreamProducer'));
    const state = this.#topic(topic);
    if (state.closed) return Promise.reject(new TopicClosedError(topic));
    const metadata = options?.metadata ?? EMPTY_METADATA;
    if (this.#lingerErrors.length > 0) {
      // A batch the timer sent was refused: report it now, with this object (not taken) too.
      const failure = this.#takeLingerError()!;
      const unsent = [
        ...failure.unsent,
        { topic, object, metadata, evict: options?.evict ?? true },
      ];
      return Promise.reject(new SendRefusedError(unsent, { cause: failure.cause }));
    }
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
    await allReported(Array.from(this.#topics.values(), (state) => this.#flushState(state, false)));
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
    await allReported(
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
   *
   * Bounded: when the publisher has not accepted everything and closed within `timeoutMs`
   * (default 30 s), or when `signal` aborts, it rejects with `CloseIncompleteError`, whose
   * `unsent` lists the objects not confirmed as accepted; the producer is closed all the same.
   * @throws `CloseIncompleteError` past the time limit or on abort.
   * @throws {@link SendRefusedError} when a batch flushed by close was refused.
   */
  close(options: ProducerCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#closeWithin(options);
    return this.#closing;
  }

  /** Same as {@link close} with default options; lets `await using` close the producer. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeWithin(options: ProducerCloseOptions): Promise<void> {
    const timeoutMs = closeTimeout(options);
    const gaveUp = await settleWithin(this.#close(options), timeoutMs, options.signal);
    if (gaveUp === undefined) return;
    this.#stopTimers();
    const unsent: UnsentObject<T>[] = [];
    for (const batch of this.#unsettled) batch.unsent(unsent);
    for (const state of this.#topics.values()) {
      new CutBatch(state.topic, state.objects, state.metadata, state.evict).unsent(unsent);
    }
    throw new CloseIncompleteError('StreamProducer', gaveUp, unsent, { timeoutMs });
  }

  /** Sends a heartbeat on every open topic quiet for `heartbeatMs` with nothing buffered or in flight. */
  #beat(): void {
    const quietSince = Date.now() - this.#heartbeatMs!;
    for (const state of this.#topics.values()) {
      if (state.closed || state.ending || state.lastCut > quietSince) continue;
      if (state.objects.length > 0 || state.pending > 0 || state.oldest !== undefined) continue;
      this.#flushState(state, false, true).catch(() => undefined);
    }
  }

  #stopTimers(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const state of this.#topics.values()) {
      if (state.timer !== undefined) clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  async #close(options: ProducerCloseOptions): Promise<void> {
    let failure: unknown;
    try {
      if (options.topics !== undefined) await this.closeTopics(...options.topics);
      await allReported(
        Array.from(this.#topics.values(), (state) => this.#flushState(state, false)),
      );
    } catch (error) {
      failure = error;
    }
    this.#stopTimers();
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

  /** The refusals of linger-sent batches not reported yet, as one error; clears them. */
  #takeLingerError(): SendRefusedError<T> | undefined {
    const errors = this.#lingerErrors;
    if (errors.length === 0) return undefined;
    this.#lingerErrors = [];
    return mergeRefusals(errors);
  }

  #topic(topic: string): TopicState<T> {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      const store = this.#stores.get(topic) ?? this.#defaultStore;
      const created = new TopicState<T>(topic, store);
      created.onLinger = () => {
        created.timer = undefined;
        this.#flushState(created, false).catch((error: unknown) => {
          if (error instanceof SendRefusedError) this.#lingerErrors.push(error);
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
  #flushState(state: TopicState<T>, endOfStream: boolean, heartbeat = false): Promise<void> {
    if (state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.objects.length === 0 && !endOfStream && !heartbeat) return this.#tailOf(state);
    if (this.#heartbeatMs !== undefined) state.lastCut = Date.now();
    const objects = state.objects;
    const metadata = state.metadata;
    const evict = state.evict;
    state.objects = [];
    state.metadata = [];
    state.evict = [];
    let run: Promise<void>;
    if (this.#maxInFlight > 1) {
      run = this.#pipelineBatch(state, objects, metadata, evict, endOfStream);
    } else {
      state.pending++;
      run =
        state.pending === 1
          ? this.#sendBatch(state, objects, metadata, evict, endOfStream)
          : state.tail.then(() => this.#sendBatch(state, objects, metadata, evict, endOfStream));
      state.tail = run.then(state.settled, state.settled);
    }
    return this.#accountFor(run, new CutBatch(state.topic, objects, metadata, evict));
  }

  /**
   * Keeps `batch` listed as unsettled until `run` settles; a refusal becomes a
   * {@link SendRefusedError} naming every object of the batch.
   */
  #accountFor(run: Promise<void>, batch: CutBatch<T>): Promise<void> {
    const unsettled = this.#unsettled;
    unsettled.add(batch);
    return run.then(
      () => {
        unsettled.delete(batch);
      },
      (error: unknown) => {
        unsettled.delete(batch);
        throw new SendRefusedError(batch.unsent(), { cause: error });
      },
    );
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
