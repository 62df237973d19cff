import {
  CloseIncompleteError,
  DecodeError,
  type EventBatch,
  type EventSubscriber,
  type Filter,
  InvalidArgumentError,
  isAcknowledgingSubscriber,
  isEventSubscriber,
  isSubscriber,
  type Metadata,
  type NewObjectEvent,
  SequenceGapError,
  type Serializer,
  type Store,
  type StoreFactory,
  StreamIdleError,
  type Subscriber,
} from '@proxystream/protocols';
import { type BoundedCloseOptions, closeTimeout, settleWithin } from './bounded-close.js';
import { defaultSerializer } from './default-serializer.js';
import { positiveInteger } from './option-checks.js';
import { ProxyReference } from './proxy-reference.js';
import { StoreCache } from './store-cache.js';
import { decodeBatch } from './wire-codec.js';

/** What the consumer yields: the object itself for inline events, a reference for stored ones. */
export type StreamItem<T> = T | ProxyReference<T>;

/** An item with the metadata its producer sent. */
export interface ItemWithMetadata<T> {
  /** The object (inline) or a reference to it (store-backed). */
  readonly item: StreamItem<T>;
  /** The producer's metadata. */
  readonly metadata: Metadata;
}

/** A resolved object with the metadata its producer sent. */
export interface ObjectWithMetadata<T> {
  /** The object, resolved from its store when it was store-backed. */
  readonly object: T;
  /** The producer's metadata. */
  readonly metadata: Metadata;
}

/**
 * What to do when a producer's sequence on a topic jumps (batches lost) or goes back (a
 * duplicate, which is skipped; a batch that fills an earlier hole — a redelivery arriving after
 * later batches — is delivered, not skipped): `'error'` rejects the pending `next()` with
 * {@link SequenceGapError} (iteration can go on: after a gap the batch that revealed it is
 * delivered next), `'ignore'` says nothing, a function is called and iteration goes on.
 */
export type GapHandling = 'error' | 'ignore' | ((error: SequenceGapError) => void);

/**
 * What to do with a message that is not a valid envelope: `'error'` rejects the pending `next()`
 * with {@link DecodeError} (call `next()` again, or start a new `for await`, to go on), `'skip'`
 * drops it silently, a function is called and iteration goes on.
 */
export type DecodeErrorHandling = 'error' | 'skip' | ((error: DecodeError) => void);

/** Options of the {@link StreamConsumer} constructor. */
export interface StreamConsumerOptions<T> {
  /**
   * Topics the subscriber reads. Iteration ends once each of them has ended. Without this
   * option the consumer knows only the topics it has seen a batch of, so it may end before a
   * topic that is still silent has started: pass it when reading several topics (see
   * `mergeSubscribers`). With it, a batch whose envelope names any other topic — a forged or
   * misrouted message that could otherwise end or fill a topic it does not belong to — is a
   * malformed message (`DecodeError`, handled by `onDecodeError`). Without it, the envelope's
   * topic is trusted: a subscriber does not tell the consumer what it arrived on.
   */
  topics?: readonly string[];
  /**
   * Producers each topic waits for: a topic cannot end before this many producers announced
   * themselves on it (and then each of them ended). Default `1`. Raise it when several producers
   * write one topic and the first might finish before the others have sent anything.
   */
  minProducers?: number;
  /**
   * Store factories for the store kinds the consumer may open from the wire (or a shared
   * {@link StoreCache}). A batch naming any other kind fails with `StoreNotAllowedError`.
   * Default: none (only inline topics can be read).
   */
  stores?: readonly StoreFactory[] | StoreCache;
  /** Turns bytes into objects. Default {@link defaultSerializer}; must match the producer's. */
  serializer?: Serializer<T>;
  /** Applied to each event's metadata; `true` drops it, and evicts its stored data when it was one-shot. */
  filter?: Filter;
  /** Aborting closes the consumer (subscriber included); a pending `next()` resolves `done`. */
  signal?: AbortSignal;
  /** Sequence gaps and duplicates. Default `'error'`; use `'ignore'` with competing consumers, which see only part of each sequence. */
  onGap?: GapHandling;
  /** Malformed messages. Default `'error'`. */
  onDecodeError?: DecodeErrorHandling;
  /**
   * How long, in ms, a batch missing from a producer's sequence may take to arrive before it is
   * reported as lost through `onGap`; iteration also waits up to this long past the end of the
   * stream for such batches. An acknowledging broker delivers a message lost on its way to the
   * subscriber (a connection cut mid-delivery) again after its redelivery time, so the default
   * is the subscriber's `AcknowledgingSubscriber.redeliveryMs` plus 2 s when it declares
   * one (JetStream, Redis Streams, Redis list queue), else `0`: a gap is reported as soon as it
   * is seen; and `0` with `onGap: 'ignore'` (competing consumers, whose holes are other members'
   * batches). Nothing waits unless a batch is missing — or, at the end of the stream, unless the
   * first batch seen of a producer was not its first: a consumer that took over from one that
   * died waits this long for the older batches the broker delivers again (delivered if they come,
   * not reported if they do not, since a consumer may also join a stream late on purpose).
   */
  lateBatchWaitMs?: number;
  /**
   * Longest time, in ms, the consumer waits for the subscriber to yield anything before `next()`
   * rejects with `StreamIdleError`. A stream normally ends with its producers' end-of-stream; on a
   * fan-out broker that does not redeliver (Redis pub/sub, core NATS) that message can be lost
   * with the connection, and a producer can die before sending it: without a limit, such a
   * consumer waits for ever. The error ends nothing: `next()` again waits one more period, or
   * close the consumer. Set it above the longest pause the producer makes between batches.
   * Default: no limit.
   */
  idleTimeoutMs?: number;
}

/**
 * Options of {@link StreamConsumer.close}. `timeoutMs` (default 30 000) and `signal` bound how
 * long it waits for the broker (the last acknowledgement, closing the subscriber and stores);
 * past them it rejects with `CloseIncompleteError`.
 */
export interface ConsumerCloseOptions extends BoundedCloseOptions {
  /** Close the subscriber. Default `true`. */
  subscriber?: boolean;
  /** Close the stores the consumer opened. Default `false`. */
  stores?: boolean;
}

interface ProducerProgress {
  /** Sequence expected next (one past the highest seen). */
  next: number;
  /** Lowest sequence seen: the consumer may have joined the stream after it began. */
  low: number;
  /**
   * Sequences below `next` not received yet, mapped to {@link REPORTED}, {@link AT_END} or the
   * time (ms since the epoch) their absence is reported at. Acknowledging brokers deliver a batch
   * again after later ones (redelivery, claiming); such a batch fills its hole instead of being
   * taken for a duplicate.
   */
  missing: Map<number, number>;
  ended: boolean;
}

/** A hole that was reported; a finite positive value is the time it is reported at, if still open. */
const REPORTED = 0;
/** A hole reported only once its producer's stream has ended without it. */
const AT_END = Number.POSITIVE_INFINITY;
/** Margin added to a subscriber's declared redelivery time. */
const REDELIVERY_MARGIN_MS = 2_000;

/** Largest hole whose batches are remembered one by one, and most remembered per producer. */
const MAX_TRACKED_HOLE = 4096;
const MAX_TRACKED_MISSING = 65_536;

/** Remembers the sequences `from` … `to − 1` as missing; returns how many were remembered. */
function remember(missing: Map<number, number>, from: number, to: number, state: number): number {
  if (to - from > MAX_TRACKED_HOLE) return 0;
  let count = 0;
  for (let sequence = from; sequence < to && missing.size < MAX_TRACKED_MISSING; sequence++) {
    missing.set(sequence, state);
    count++;
  }
  return count;
}

function isDeadline(state: number): boolean {
  return state !== REPORTED && state !== AT_END;
}

interface TopicProgress {
  readonly producers: Map<string, ProducerProgress>;
  /** Announced producers that have not ended yet. */
  open: number;
}

const MODE_ITEM = 0;
const MODE_ITEM_METADATA = 1;
const MODE_OBJECT = 2;
const MODE_OBJECT_METADATA = 3;
type Mode = 0 | 1 | 2 | 3;

/** What a `next`-like call of `mode` yields for `value` (an object, or a reference to one). */
function result(
  mode: Mode,
  value: unknown,
  metadata: Metadata,
): IteratorResult<unknown, undefined> {
  if (mode === MODE_ITEM || mode === MODE_OBJECT) return { done: false, value };
  if (mode === MODE_ITEM_METADATA) return { done: false, value: { item: value, metadata } };
  return { done: false, value: { object: value, metadata } };
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

const RESOLVED: Promise<unknown> = Promise.resolve();

/**
 * Reads a stream: async iteration yields the object itself for inline events and a
 * {@link ProxyReference} for store-backed ones, in order, until every topic it reads has ended.
 * The TypeScript counterpart of ProxyStore's `StreamConsumer`.
 *
 * **When iteration ends.** A producer *announces* itself on a topic with its first batch there
 * (any batch, even one that only ends the stream). A topic has ended when at least
 * `minProducers` (default 1) producers announced themselves on it and every announced producer
 * sent its end-of-stream. Iteration ends when every topic of the `topics` option (or, without
 * it, every topic seen so far) has ended and every object received was yielded. A producer that
 * has not sent anything yet is not waited for beyond `minProducers`. Closing the consumer or
 * aborting its signal also ends iteration.
 *
 * **Gaps.** Sequence numbers are tracked per producer and topic; the first batch of a producer
 * sets the baseline (a consumer may join a running stream), later jumps are reported as chosen by
 * `onGap` — at once, or, on an acknowledging subscriber that redelivers (see `lateBatchWaitMs`),
 * only if the missing batches have not arrived within the wait; iteration does not end while
 * such a wait runs.
 *
 * Breaking out of `for await` closes the consumer with default options. An error thrown by
 * `next()` (decode error, gap, store not allowed) does not close it: call `next()` again to go on.
 *
 * @example
 * ```ts
 * await using consumer = new StreamConsumer<Uint8Array>(await broker.subscriber('frames'), {
 *   stores: [new FileStoreFactory({ allowedRoots: ['/data'] })],
 * });
 * for await (const { item, metadata } of consumer.iterWithMetadata()) dispatch(item, metadata);
 * ```
 */
export class StreamConsumer<T = unknown> implements AsyncIterable<StreamItem<T>> {
  readonly #subscriber: Subscriber | EventSubscriber;
  readonly #source: AsyncIterator<Uint8Array | EventBatch>;
  readonly #bytes: boolean;
  readonly #stores: StoreCache;
  /** Whether a close was asked to close the stores too. */
  #storesClosing = false;
  readonly #serializer: Serializer<T>;
  readonly #filter: Filter | undefined;
  readonly #onGap: GapHandling;
  readonly #onDecodeError: DecodeErrorHandling;
  readonly #expectedTopics: readonly string[] | undefined;
  /** The same topics, to refuse a batch that names another one. */
  readonly #topicSet: ReadonlySet<string> | undefined;
  readonly #minProducers: number;
  readonly #progress = new Map<string, TopicProgress>();
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;
  readonly #lateWaitMs: number;
  /** Holes waiting for their batches under a deadline (see {@link ProducerProgress.missing}). */
  #waiting = 0;
  /** No waiting hole is reported before this time (it may be early after a hole filled: harmless). */
  #nextDeadline = Number.POSITIVE_INFINITY;
  /**
   * End of the wait, once every topic ended, for batches older than the first one seen of a
   * producer (see `#joinedLate`); set once.
   */
  #lingerUntil: number | undefined;
  /** A read of the subscriber that outlived a deadline; the next read takes it over. */
  #read: Promise<IteratorResult<Uint8Array | EventBatch>> | undefined;
  #batch: EventBatch | undefined;
  #batchStore: Store | undefined;
  #index = 0;
  #ended = false;
  #closed = false;
  /** See {@link StreamConsumerOptions.idleTimeoutMs}. */
  readonly #idleMs: number | undefined;
  /** When the current wait for the subscriber began (only tracked with an idle time limit). */
  #waitStart = 0;
  #closing: Promise<void> | undefined;
  #running = 0;
  #tail: Promise<unknown> = RESOLVED;
  readonly #settle = (): void => {
    this.#running--;
  };

  constructor(subscriber: Subscriber | EventSubscriber, options: StreamConsumerOptions<T> = {}) {
    if (isEventSubscriber(subscriber)) this.#bytes = false;
    else if (isSubscriber(subscriber)) this.#bytes = true;
    else throw new InvalidArgumentError('StreamConsumer needs a Subscriber or an EventSubscriber');
    this.#subscriber = subscriber;
    this.#source = (subscriber as AsyncIterable<Uint8Array | EventBatch>)[Symbol.asyncIterator]();
    const stores = options.stores;
    this.#stores = stores instanceof StoreCache ? stores : new StoreCache(stores ?? []);
    this.#serializer = options.serializer ?? (defaultSerializer as Serializer<T>);
    this.#filter = options.filter;
    this.#onGap = options.onGap ?? 'error';
    this.#onDecodeError = options.onDecodeError ?? 'error';
    this.#expectedTopics = options.topics === undefined ? undefined : [...new Set(options.topics)];
    if (this.#expectedTopics?.length === 0)
      throw new InvalidArgumentError('topics must name at least one topic');
    this.#topicSet = this.#expectedTopics === undefined ? undefined : new Set(this.#expectedTopics);
    this.#minProducers = positiveInteger(options.minProducers, 'minProducers', 1);
    const redelivery = isAcknowledgingSubscriber(subscriber) ? subscriber.redeliveryMs : undefined;
    // Competing consumers ('ignore') see holes that are other members' batches: never wait.
    const lateWait =
      options.lateBatchWaitMs ??
      (redelivery === undefined || options.onGap === 'ignore'
        ? 0
        : redelivery + REDELIVERY_MARGIN_MS);
    if (!Number.isFinite(lateWait) || lateWait < 0) {
      throw new InvalidArgumentError(
        `lateBatchWaitMs must be a finite number ≥ 0, got ${options.lateBatchWaitMs}`,
      );
    }
    this.#lateWaitMs = lateWait;
    const idle = options.idleTimeoutMs;
    if (idle !== undefined && !(typeof idle === 'number' && idle > 0)) {
      throw new InvalidArgumentError(`idleTimeoutMs must be a number > 0, got ${idle}`);
    }
    this.#idleMs = idle === Number.POSITIVE_INFINITY ? undefined : idle;
    this.#signal = options.signal;
    if (this.#signal !== undefined) {
      this.#onAbort = () => void this.close().catch(() => undefined);
      if (this.#signal.aborted) this.#onAbort();
      else this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** True once every topic has ended and every object was yielded. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The next object (inline) or reference (store-backed); `done` at the end of the stream. */
  next(): Promise<IteratorResult<StreamItem<T>, undefined>> {
    return this.#enqueue(MODE_ITEM) as Promise<IteratorResult<StreamItem<T>, undefined>>;
  }

  /** Like {@link next}, with the producer's metadata. */
  nextWithMetadata(): Promise<IteratorResult<ItemWithMetadata<T>, undefined>> {
    return this.#enqueue(MODE_ITEM_METADATA) as Promise<
      IteratorResult<ItemWithMetadata<T>, undefined>
    >;
  }

  /** The next object, resolved from its store if it was store-backed. */
  nextObject(): Promise<IteratorResult<T, undefined>> {
    return this.#enqueue(MODE_OBJECT) as Promise<IteratorResult<T, undefined>>;
  }

  /** Like {@link nextObject}, with the producer's metadata. */
  nextObjectWithMetadata(): Promise<IteratorResult<ObjectWithMetadata<T>, undefined>> {
    return this.#enqueue(MODE_OBJECT_METADATA) as Promise<
      IteratorResult<ObjectWithMetadata<T>, undefined>
    >;
  }

  /** Iterates objects and references (the default iteration). */
  [Symbol.asyncIterator](): AsyncIterableIterator<StreamItem<T>> {
    return this.#iterator(MODE_ITEM);
  }

  /** Iterates objects and references with their metadata. */
  iterWithMetadata(): AsyncIterableIterator<ItemWithMetadata<T>> {
    return this.#iterator(MODE_ITEM_METADATA);
  }

  /** Iterates objects, resolving references. */
  iterObjects(): AsyncIterableIterator<T> {
    return this.#iterator(MODE_OBJECT);
  }

  /** Iterates objects with their metadata, resolving references. */
  iterObjectsWithMetadata(): AsyncIterableIterator<ObjectWithMetadata<T>> {
    return this.#iterator(MODE_OBJECT_METADATA);
  }

  /**
   * Ends iteration (a pending `next()` resolves `done`), acknowledges what was consumed when the
   * subscriber acknowledges and the last batch was read to its end, then closes the subscriber
   * and, if asked, the stores opened (references yielded earlier then can no longer resolve
   * through them; their JSON form still revives elsewhere). Safe to call twice.
   *
   * With `subscriber: false`, a `next()` pending at close time resolves `done` only when the
   * subscriber yields its next message (which is dropped) or closes: to hand a subscriber on
   * intact, close the consumer while no `next()` is pending.
   */
  close(options: ConsumerCloseOptions = {}): Promise<void> {
    const stores = options.stores ?? false;
    if (this.#closing === undefined) {
      this.#storesClosing = stores;
      this.#closing = this.#closeWithin(options);
    } else if (stores && !this.#storesClosing) {
      // An earlier close (the end of a `for await` loop, say) left the stores open.
      this.#storesClosing = true;
      const closing = this.#closing;
      this.#closing = closing.finally(() => this.#stores.close());
    }
    return this.#closing;
  }

  /** Same as {@link close} with default options; lets `await using` close the consumer. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeWithin(options: ConsumerCloseOptions): Promise<void> {
    const timeoutMs = closeTimeout(options);
    const gaveUp = await settleWithin(this.#close(options), timeoutMs, options.signal);
    if (gaveUp !== undefined) {
      // The last acknowledgement may be what hangs: close the subscriber anyway (closing twice
      // is safe), which ends a pending read.
      if (options.subscriber ?? true) this.#subscriber.close().catch(() => undefined);
      throw new CloseIncompleteError('StreamConsumer', gaveUp, [], { timeoutMs });
    }
  }

  async #close(options: ConsumerCloseOptions): Promise<void> {
    this.#closed = true;
    if (this.#signal !== undefined && this.#onAbort !== undefined) {
      this.#signal.removeEventListener('abort', this.#onAbort);
    }
    const consumedAll = this.#batch === undefined || this.#index >= this.#batch.events.length;
    this.#batch = undefined;
    this.#batchStore = undefined;
    if (consumedAll && isAcknowledgingSubscriber(this.#subscriber)) await this.#subscriber.ack();
    if (options.subscriber ?? true) await this.#subscriber.close();
    if (options.stores ?? false) await this.#stores.close();
  }

  #iterator<V>(mode: Mode): AsyncIterableIterator<V> {
    const iterator: AsyncIterableIterator<V> = {
      next: () => this.#enqueue(mode) as Promise<IteratorResult<V>>,
      return: async () => {
        await this.close();
        return DONE;
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Runs one `next`-like call after those already pending, so concurrent callers each get their own item. */
  #enqueue(mode: Mode): Promise<IteratorResult<unknown, undefined>> {
    if (this.#running === 0 && this.#batch !== undefined && !this.#closed) {
      // Nobody ahead and the current batch holds the next item: take it without two async hops.
      try {
        const ready = this.#takeReady(mode);
        if (ready !== undefined) return Promise.resolve(ready);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.#running++;
    const result =
      this.#running === 1 ? this.#produce(mode) : this.#tail.then(() => this.#produce(mode));
    this.#tail = result.then(this.#settle, this.#settle);
    return result;
  }

  /**
   * The next item of the current batch when no await is needed: an inline or live object that
   * passes the filter (filtered inline events are skipped: they have no stored data to evict).
   * `undefined` when the slow path must decide (stored body, end of the batch).
   */
  #takeReady(mode: Mode): IteratorResult<unknown, undefined> | undefined {
    const events = this.#batch!.events;
    while (this.#index < events.length) {
      const event = events[this.#index]!;
      if (event.type !== 'new-object') {
        this.#index++;
        continue;
      }
      const body = event.body;
      if (body.kind === 'stored') return undefined;
      this.#index++;
      if (this.#filter?.(event.metadata)) continue;
      const value = body.kind === 'live' ? body.value : this.#serializer.deserialize(body.data);
      return result(mode, value, event.metadata);
    }
    return undefined;
  }

  async #produce(mode: Mode): Promise<IteratorResult<unknown, undefined>> {
    const event = await this.#advance();
    if (event === undefined) return DONE;
    const body = event.body;
    let value: unknown;
    if (body.kind === 'live') {
      value = body.value;
    } else if (body.kind === 'inline') {
      value = this.#serializer.deserialize(body.data);
    } else {
      const reference = new ProxyReference<T>({
        key: body.key,
        store: this.#batchStore!,
        storeConfig: this.#batch!.store!,
        evict: event.evict,
        serializer: this.#serializer,
      });
      value = mode >= MODE_OBJECT ? await reference.resolve() : reference;
    }
    return result(mode, value, event.metadata);
  }

  /** The next event that passes the filter, or `undefined` at the end. */
  async #advance(): Promise<NewObjectEvent | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const batch = this.#batch;
      if (batch !== undefined) {
        const events = batch.events;
        while (this.#index < events.length) {
          const event = events[this.#index++]!;
          if (event.type !== 'new-object') continue;
          if (this.#filter?.(event.metadata)) {
            if (event.evict && event.body.kind === 'stored')
              await this.#batchStore!.evict(event.body.key);
            continue;
          }
          return event;
        }
        this.#batch = undefined;
        this.#batchStore = undefined;
      }
      if (this.#ended) return undefined;
      // Read until a deadline: the earliest waiting hole, or the linger at the end of the stream.
      let deadline: number | undefined;
      if (this.#waiting > 0) {
        deadline = this.#nextDeadline;
      } else if (this.#allEnded()) {
        if (this.#lingerUntil === undefined && this.#lateWaitMs > 0 && this.#joinedLate()) {
          this.#lingerUntil = Date.now() + this.#lateWaitMs;
        }
        if (this.#lingerUntil === undefined || Date.now() >= this.#lingerUntil) {
          this.#ended = true;
          if (isAcknowledgingSubscriber(this.#subscriber)) await this.#subscriber.ack();
          return undefined;
        }
        deadline = this.#lingerUntil;
      }
      if (this.#idleMs !== undefined) {
        // A new read starts the idle clock; a read parked by an earlier deadline keeps it.
        if (this.#read === undefined) this.#waitStart = Date.now();
        const idleAt = this.#waitStart + this.#idleMs;
        if (deadline === undefined || idleAt < deadline) deadline = idleAt;
      }
      let result: IteratorResult<Uint8Array | EventBatch> | undefined;
      if (deadline === undefined) {
        // No deadline (the common case): no timer. close() ends this wait through the
        // subscriber, whose close() ends a pending read at once (the Subscriber contract, which
        // every shim keeps with its broker frozen: see frozenBrokerCase).
        const parked = this.#read;
        this.#read = undefined;
        result = await (parked ?? this.#source.next());
      } else {
        result = await this.#readBefore(deadline);
      }
      if (this.#closed) return undefined;
      if (result === undefined) {
        if (this.#waiting > 0 && Date.now() >= this.#nextDeadline) this.#reportOverdue();
        if (this.#idleMs !== undefined && Date.now() >= this.#waitStart + this.#idleMs) {
          // Counted again from now: a caller that goes on waits one more full period.
          this.#waitStart = Date.now();
          throw new StreamIdleError(this.#idleMs);
        }
        continue;
      }
      if (result.done === true) return undefined;
      let next: EventBatch;
      try {
        next = this.#bytes ? decodeBatch(result.value as Uint8Array) : (result.value as EventBatch);
        if (this.#topicSet !== undefined && !this.#topicSet.has(next.topic)) {
          throw new DecodeError(
            `batch of topic ${JSON.stringify(next.topic.slice(0, 200))} is not of the topics this consumer reads`,
          );
        }
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        const handling = this.#onDecodeError;
        if (handling === 'error') throw error;
        if (handling !== 'skip') handling(error);
        continue;
      }
      const gap = this.#track(next);
      if (gap === null) continue;
      let stored = false;
      for (const event of next.events) {
        if (event.type === 'new-object' && event.body.kind === 'stored') {
          stored = true;
          break;
        }
      }
      // Open (or fetch from the cache) before installing the batch: a refused store drops it.
      const store =
        stored && next.store !== undefined ? await this.#stores.open(next.store) : undefined;
      this.#batch = next;
      this.#batchStore = store;
      this.#index = 0;
      if (gap !== undefined) throw gap;
      if (this.#waiting > 0 && Date.now() >= this.#nextDeadline) this.#reportOverdue();
    }
  }

  /**
   * Updates the sequence and end-of-stream state for `batch`. Returns `null` to skip it (a
   * duplicate), a gap error to throw after installing it, or `undefined`.
   */
  #track(batch: EventBatch): SequenceGapError | null | undefined {
    let topic = this.#progress.get(batch.topic);
    if (topic === undefined) {
      topic = { producers: new Map(), open: 0 };
      this.#progress.set(batch.topic, topic);
    }
    let producer = topic.producers.get(batch.producerId);
    if (producer === undefined) {
      producer = { next: batch.sequence, low: batch.sequence, missing: new Map(), ended: false };
      topic.producers.set(batch.producerId, producer);
      topic.open++;
    }
    const sequence = batch.sequence;
    let error: SequenceGapError | undefined;
    if (sequence >= producer.next) {
      if (sequence > producer.next) {
        const hole = sequence - producer.next;
        if (this.#lateWaitMs > 0 && hole <= MAX_TRACKED_HOLE) {
          // Maybe lost in transit: the broker delivers it again; report it if it does not come.
          this.#awaitHole(producer, producer.next, sequence);
        } else {
          error = new SequenceGapError(batch.topic, batch.producerId, producer.next, sequence);
          remember(producer.missing, producer.next, sequence, REPORTED);
        }
      }
      producer.next = sequence + 1;
    } else if (sequence < producer.low) {
      // Older than anything seen: delivered late (or the consumer joined mid-stream). The batches
      // between it and the oldest seen exist too; they are reported if the stream ends without them.
      if (producer.ended && this.#lateWaitMs > 0) {
        // Its end of stream came already: the batches in between get the usual wait.
        this.#awaitHole(producer, sequence + 1, producer.low);
      } else {
        remember(producer.missing, sequence + 1, producer.low, AT_END);
      }
      producer.low = sequence;
    } else if (producer.missing.has(sequence)) {
      if (isDeadline(producer.missing.get(sequence)!) && --this.#waiting === 0) {
        this.#nextDeadline = Number.POSITIVE_INFINITY;
      }
      producer.missing.delete(sequence);
    } else {
      const duplicate = new SequenceGapError(
        batch.topic,
        batch.producerId,
        producer.next,
        sequence,
      );
      const handling = this.#onGap;
      if (handling === 'error') throw duplicate;
      if (handling !== 'ignore') handling(duplicate);
      return null;
    }
    if (!producer.ended) {
      for (const event of batch.events) {
        if (event.type === 'end-of-stream') {
          producer.ended = true;
          topic.open--;
          error ??= this.#unreportedHole(batch, producer);
          break;
        }
      }
    }
    if (error === undefined) return undefined;
    const handling = this.#onGap;
    if (handling === 'error') return error;
    if (handling !== 'ignore') handling(error);
    return undefined;
  }

  /**
   * At a producer's end of stream: the batches known to exist that never came and wait for the
   * end. Reported now, or given until the late-batch deadline when the consumer waits for them.
   */
  #unreportedHole(batch: EventBatch, producer: ProducerProgress): SequenceGapError | undefined {
    const wait = this.#lateWaitMs;
    const deadline = Date.now() + wait;
    let first = -1;
    let count = 0;
    for (const [sequence, state] of producer.missing) {
      if (state !== AT_END) continue;
      if (wait > 0) {
        producer.missing.set(sequence, deadline);
        this.#waiting++;
        this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
        continue;
      }
      producer.missing.set(sequence, REPORTED);
      if (first === -1 || sequence < first) first = sequence;
      count++;
    }
    if (count === 0) return undefined;
    return new SequenceGapError(batch.topic, batch.producerId, first, first + count);
  }

  /** Remembers the sequences `from` … `to − 1` as missing, to be reported if not there within the wait. */
  #awaitHole(producer: ProducerProgress, from: number, to: number): void {
    const deadline = Date.now() + this.#lateWaitMs;
    this.#waiting += remember(producer.missing, from, to, deadline);
    this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
  }

  /** Reports, through `onGap`, every hole whose deadline has passed (throws the first for `'error'`). */
  #reportOverdue(): void {
    const now = Date.now();
    try {
      this.#reportHolesDue(now);
    } finally {
      this.#nextDeadline = this.#earliestDeadline();
      // Defensive: a count out of step with the holes must not turn into a busy loop.
      if (this.#nextDeadline === Number.POSITIVE_INFINITY) this.#waiting = 0;
    }
  }

  #reportHolesDue(now: number): void {
    for (const [topic, progress] of this.#progress) {
      for (const [producerId, producer] of progress.producers) {
        let first = -1;
        let count = 0;
        for (const [sequence, state] of producer.missing) {
          if (!isDeadline(state) || state > now) continue;
          producer.missing.set(sequence, REPORTED);
          this.#waiting--;
          if (first === -1 || sequence < first) first = sequence;
          count++;
        }
        if (count === 0) continue;
        const error = new SequenceGapError(topic, producerId, first, first + count);
        const handling = this.#onGap;
        if (handling === 'error') throw error;
        if (handling !== 'ignore') handling(error);
      }
    }
  }

  /**
   * Whether the first batch seen of some producer was not its first (sequence 0): this consumer
   * may have taken over from one that died holding older batches, which an acknowledging broker
   * delivers again later. It may also have joined the stream late on purpose, so batches that
   * never come are not reported; but those that come within `lateBatchWaitMs` are delivered.
   */
  #joinedLate(): boolean {
    for (const progress of this.#progress.values()) {
      for (const producer of progress.producers.values()) if (producer.low > 0) return true;
    }
    return false;
  }

  /** The earliest time a waiting hole is reported at. */
  #earliestDeadline(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const progress of this.#progress.values()) {
      for (const producer of progress.producers.values()) {
        for (const state of producer.missing.values()) {
          if (isDeadline(state) && state < earliest) earliest = state;
        }
      }
    }
    return earliest;
  }

  /**
   * The subscriber's next message, or `undefined` when `deadline` passes first; the read then
   * stays pending and the next call takes it over, so no message is dropped.
   */
  async #readBefore(
    deadline: number,
  ): Promise<IteratorResult<Uint8Array | EventBatch> | undefined> {
    let read = this.#read;
    if (read === undefined) {
      read = this.#source.next();
      // A read parked past its deadline may fail before it is taken over: not unhandled.
      read.catch(() => undefined);
      this.#read = read;
    }
    const delay = deadline - Date.now();
    if (delay <= 0) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, delay, undefined);
    });
    try {
      const result = await Promise.race([read, timeout]);
      if (result !== undefined) this.#read = undefined;
      return result;
    } catch (error) {
      this.#read = undefined;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #allEnded(): boolean {
    const expected = this.#expectedTopics;
    if (expected !== undefined) {
      for (const name of expected) if (!this.#topicEnded(this.#progress.get(name))) return false;
      return true;
    }
    if (this.#progress.size === 0) return false;
    for (const topic of this.#progress.values()) if (!this.#topicEnded(topic)) return false;
    return true;
  }

  #topicEnded(topic: TopicProgress | undefined): boolean {
    return topic !== undefined && topic.open === 0 && topic.producers.size >= this.#minProducers;
  }
}
