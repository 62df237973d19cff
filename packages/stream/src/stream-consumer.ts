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
  type Serializer,
  type Store,
  type StoreFactory,
  StreamIdleError,
  type Subscriber,
} from '@proxystream/protocols';
import { positiveInteger } from '@proxystream/protocols/kit';
import { type BoundedCloseOptions, closeTimeout, settleWithin } from './bounded-close.js';
import { ConsumerTelemetry } from './consumer-telemetry.js';
import { defaultSerializer } from './default-serializer.js';
import { ProxyReference, type ProxyReferenceOptions } from './proxy-reference.js';
import { telemetryGiven } from './reference-telemetry.js';
import {
  type GapHandling,
  SequenceTracker,
  STREAM_ENDED,
  type TimerHandle,
} from './sequence-tracker.js';
import { StoreCache } from './store-cache.js';
import { InlineItem, type StreamItem, type WithMetadata } from './stream-item.js';
import { messagingOf, resolveTelemetry } from './telemetry.js';
import type { TelemetryOptions } from './telemetry-options.js';
import { decodeBatch } from './wire-codec.js';

export type { GapHandling } from './sequence-tracker.js';
export type { StreamItem, WithMetadata } from './stream-item.js';

/** An item (inline object or reference) with the metadata its producer sent. */
export type ItemWithMetadata<T> = WithMetadata<StreamItem<T>>;

/** A resolved object with the metadata its producer sent. */
export type ObjectWithMetadata<T> = WithMetadata<T>;

/**
 * What to do with a message that is not a valid envelope: `'error'` rejects the pending `next()`
 * with {@link DecodeError} (call `next()` again, or start a new `for await`, to go on), `'ignore'`
 * drops it silently (as `onGap: 'ignore'` does gaps), a function is called and iteration goes on.
 */
export type DecodeErrorHandling = 'error' | 'ignore' | ((error: DecodeError) => void);

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
  /**
   * Traces and metrics (see the stream README, "Tracing and metrics"): a `receive {topic}` span
   * per delivered object, child of (and linked to) the producer's send span; references that
   * carry the trace on, so that their resolve joins it wherever it happens; counters of objects,
   * bytes, batches, gaps, duplicates and malformed messages; the subscriber's lag where the
   * broker tells it. Default: the global OpenTelemetry providers, when an SDK was registered
   * before the consumer was made; `false` records nothing.
   */
  telemetry?: TelemetryOptions | false;
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

/** Margin added to a subscriber's declared redelivery time. */
const REDELIVERY_MARGIN_MS = 2_000;

const MODE_ITEM = 0;
const MODE_ITEM_METADATA = 1;
const MODE_OBJECT = 2;
const MODE_OBJECT_METADATA = 3;
type Mode = 0 | 1 | 2 | 3;

/** What a `next`-like call of `mode` yields for `value` (an item, or a resolved object). */
function result(
  mode: Mode,
  value: unknown,
  metadata: Metadata,
): IteratorResult<unknown, undefined> {
  if (mode === MODE_ITEM || mode === MODE_OBJECT) return { done: false, value };
  return { done: false, value: { value, metadata } };
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

const RESOLVED: Promise<unknown> = Promise.resolve();

/**
 * Reads a stream: async iteration yields an {@link InlineItem} for inline events and a
 * {@link ProxyReference} for store-backed ones, in order, until every topic it reads has ended.
 * Every item has `resolve(options?): Promise<T>`; `item.isReference` tells the two apart and
 * `item.reference` is the reference to hand on. `iterObjects()` yields the objects themselves.
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
 * for await (const { value, metadata } of consumer.iterWithMetadata()) {
 *   dispatch(await value.resolve(), metadata);
 * }
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
  readonly #onDecodeError: DecodeErrorHandling;
  /** The `topics` option, to refuse a batch that names another one. */
  readonly #topicSet: ReadonlySet<string> | undefined;
  readonly #tracker: SequenceTracker;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;
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
  /** Spans and counters, when telemetry is on. */
  readonly #telemetry: ConsumerTelemetry | undefined;
  /** {@link #telemetry} when it traces deliveries. */
  readonly #tracing: ConsumerTelemetry | undefined;
  /** When the current batch arrived (ms since the epoch; only tracked when tracing). */
  #arrivedAt = 0;

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
    this.#onDecodeError = options.onDecodeError ?? 'error';
    const expectedTopics = options.topics === undefined ? undefined : [...new Set(options.topics)];
    if (expectedTopics?.length === 0)
      throw new InvalidArgumentError('topics must name at least one topic');
    this.#topicSet = expectedTopics === undefined ? undefined : new Set(expectedTopics);
    const minProducers = positiveInteger(options.minProducers, 'minProducers', 1);
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
    const telemetry = resolveTelemetry(options.telemetry);
    this.#telemetry =
      telemetry === undefined
        ? undefined
        : new ConsumerTelemetry(telemetry, messagingOf(subscriber), subscriber);
    this.#tracing = this.#telemetry?.tracing ? this.#telemetry : undefined;
    const observer = this.#telemetry;
    this.#tracker = new SequenceTracker({
      lateWaitMs: lateWait,
      onGap: options.onGap ?? 'error',
      expectedTopics,
      minProducers,
      observe: observer === undefined ? undefined : (error) => observer.sequenceReport(error),
    });
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

  /** The next item: an {@link InlineItem} or a {@link ProxyReference}; `done` at the end of the stream. */
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

  /** Iterates items: inline ones and references (the default iteration). */
  [Symbol.asyncIterator](): AsyncIterableIterator<StreamItem<T>> {
    return this.#iterator(MODE_ITEM);
  }

  /** Iterates items with their metadata, as `{ value, metadata }`. */
  iterWithMetadata(): AsyncIterableIterator<ItemWithMetadata<T>> {
    return this.#iterator(MODE_ITEM_METADATA);
  }

  /** Iterates objects, resolving references. */
  iterObjects(): AsyncIterableIterator<T> {
    return this.#iterator(MODE_OBJECT);
  }

  /** Iterates objects with their metadata, as `{ value, metadata }`, resolving references. */
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
    this.#telemetry?.close();
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
      if (this.#tracing !== undefined) {
        this.#tracing.delivered(this.#batch!.topic, event, this.#arrivedAt);
      }
      const value = body.kind === 'live' ? body.value : this.#serializer.deserialize(body.data);
      return result(mode, mode < MODE_OBJECT ? new InlineItem(value) : value, event.metadata);
    }
    return undefined;
  }

  async #produce(mode: Mode): Promise<IteratorResult<unknown, undefined>> {
    const event = await this.#advance();
    if (event === undefined) return DONE;
    const body = event.body;
    const trace = this.#tracing?.delivered(this.#batch!.topic, event, this.#arrivedAt);
    let value: unknown;
    if (body.kind === 'live') {
      value = mode < MODE_OBJECT ? new InlineItem(body.value) : body.value;
    } else if (body.kind === 'inline') {
      const object = this.#serializer.deserialize(body.data);
      value = mode < MODE_OBJECT ? new InlineItem(object) : object;
    } else {
      const options: ProxyReferenceOptions<T> = {
        key: body.key,
        store: this.#batchStore!,
        storeConfig: this.#batch!.store!,
        evict: event.evict,
        serializer: this.#serializer,
      };
      let reference: ProxyReference<T>;
      if (this.#telemetry === undefined) {
        options.telemetry = false;
        reference = new ProxyReference<T>(options);
      } else {
        options.trace = trace;
        telemetryGiven.set(options, this.#telemetry.references);
        reference = new ProxyReference<T>(options);
      }
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
      let deadline = this.#tracker.wakeAt();
      if (deadline === STREAM_ENDED) {
        this.#ended = true;
        if (isAcknowledgingSubscriber(this.#subscriber)) await this.#subscriber.ack();
        return undefined;
      }
      if (this.#idleMs !== undefined) {
        // A new read starts the idle clock; a read parked by an earlier deadline keeps it.
        if (this.#read === undefined) this.#waitStart = this.#tracker.clock.now();
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
        this.#tracker.reportOverdue();
        const now = this.#tracker.clock.now();
        if (this.#idleMs !== undefined && now >= this.#waitStart + this.#idleMs) {
          // Counted again from now: a caller that goes on waits one more full period.
          this.#waitStart = now;
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
        this.#telemetry?.decodeError();
        const handling = this.#onDecodeError;
        if (handling === 'error') throw error;
        if (handling !== 'ignore') handling(error);
        continue;
      }
      const gap = this.#tracker.track(next);
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
      if (this.#telemetry !== undefined) {
        this.#telemetry.received(next);
        if (this.#tracing !== undefined) this.#arrivedAt = Date.now();
      }
      if (gap !== undefined) throw gap;
      this.#tracker.reportOverdue();
    }
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
    const clock = this.#tracker.clock;
    const delay = deadline - clock.now();
    if (delay <= 0) return undefined;
    let timer: TimerHandle;
    const timeout = new Promise<undefined>((resolve) => {
      timer = clock.setTimer(() => resolve(undefined), delay);
    });
    try {
      const result = await Promise.race([read, timeout]);
      if (result !== undefined) this.#read = undefined;
      return result;
    } catch (error) {
      this.#read = undefined;
      throw error;
    } finally {
      clock.clearTimer(timer);
    }
  }
}
