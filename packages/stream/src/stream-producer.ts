import { randomBytes } from 'node:crypto';
import type * as Otel from '@opentelemetry/api';
import {
  AbortedError,
  ClosedError,
  CloseIncompleteError,
  type EventPublisher,
  type Filter,
  InvalidArgumentError,
  isEventPublisher,
  isPublisher,
  type Metadata,
  type Publisher,
  SendRefusedError,
  type Serializer,
  type Store,
  TopicClosedError,
  type UnsentObject,
} from '@proxystream/protocols';
import { abortable, nonNegative, positiveInteger } from '@proxystream/protocols/kit';
import {
  DEFAULT_MAX_BATCH_OBJECTS,
  defaultMaxBatchBytes,
  envelopeBytes,
  WaitingSends,
} from './adaptive-batch.js';
import { BatchAssembly, CutBatch } from './batch-assembly.js';
import { type BoundedCloseOptions, closeTimeout, settleWithin } from './bounded-close.js';
import { defaultSerializer } from './default-serializer.js';
import { type BatchTelemetry, ProducerTelemetry } from './producer-telemetry.js';
import {
  BatchSender,
  type ChainContext,
  PipelinedSendChain,
  type SendChain,
  SerialSendChain,
  Withdrawal,
} from './send-chain.js';
import { messagingOf, resolveTelemetry } from './telemetry.js';
import type { TelemetryOptions } from './telemetry-options.js';

/** Options of {@link StreamProducer.send}. */
export interface SendOptions {
  /**
   * One-shot object: its stored data is deleted after the first resolve, or by a consumer-side
   * filter that drops it. Default `true` (as in ProxyStore). Inline objects have no stored data.
   */
  evict?: boolean;
  /** Metadata for filters and consumers; must be JSON-compatible. Default `{}`. */
  metadata?: Metadata;
  /**
   * Withdraws the object while it has not been handed to the publisher: an already aborted
   * signal rejects with `AbortedError` and buffers nothing. An abort while the send waits — its
   * batch behind earlier batches of the topic, on the store's `put` (a full shared-memory pool,
   * say) or for a free `maxBatchesInFlight` slot — rejects at once with `AbortedError`, and the
   * object is taken out of its batch before the batch goes out (its stored data deleted); the
   * other objects of the batch, whose sends had resolved, are sent all the same. Once the
   * publisher has the batch (including a broker's own backpressure wait in its `send`), an
   * abort is ignored and `send` settles with the publisher's answer: `AbortedError` always means
   * the object was not sent. With an `aggregator`, the object can only be withdrawn until its
   * batch is aggregated. An abort after `send` resolved (the object buffered) does nothing.
   */
  signal?: AbortSignal;
  /**
   * Hands the object over: the caller will neither read nor write it again, so where the producer
   * would otherwise let the store copy its bytes (a `MemoryStore` keeps a copy of what it is
   * given), the store keeps them as they are. Only a batch whose every object was handed over is
   * put this way. The default serializer passes a `Uint8Array` through without a copy; an inline
   * object is still copied once, into the envelope, which the producer in turn hands to the
   * publisher (`{ owned: true }`), so no shim copies it again. Default `false`.
   */
  owned?: boolean;
}

/** Options of {@link StreamProducer.flush} and {@link StreamProducer.flushTopic}. */
export interface FlushOptions {
  /**
   * Stops waiting: an already aborted signal rejects with `AbortedError` and cuts nothing; an
   * abort while the flush waits for the publisher rejects with `AbortedError` at once. The
   * batches the flush cut hold objects whose sends had resolved, so they are still sent; a
   * refusal among them is reported by the next call (as for a batch the `lingerMs` timer sent).
   */
  signal?: AbortSignal;
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
  /**
   * A fixed number of objects per batch (one broker message): a send that does not fill the
   * batch resolves once its object is buffered, and a partial batch waits for `lingerMs`,
   * `flush`, `closeTopics` or `close`. Default: adaptive batches. A send goes out at once when
   * the topic's publisher is idle; the objects sent while earlier batches of the topic are on
   * their way wait together and go out as one batch as soon as the publisher has room (no timer:
   * nothing waits when the broker keeps up), bounded by {@link maxBatchObjects} and
   * {@link maxBatchBytes}. Each such send resolves when its batch was accepted. `batchSize: 1`
   * sends every object alone.
   */
  batchSize?: number;
  /** Most objects of an adaptive batch (without `batchSize`). Default `512`. */
  maxBatchObjects?: number;
  /**
   * Most bytes of an adaptive batch (without `batchSize`), as estimated before serialising: a
   * byte array's or string's length, else the largest object serialised so far; an object that
   * goes to the store counts for its key. Default 512 KiB, or half the publisher's
   * `capabilities.maxMessageSize` when it declares a lower one. An object larger than this goes
   * out alone.
   */
  maxBatchBytes?: number;
  /**
   * Turns a full batch into one object before it is sent; the sent metadata is the union of the
   * batch's metadata (a later object's value wins on a shared key), and the object is one-shot
   * only if every object of the batch was.
   */
  aggregator?: (objects: T[]) => T;
  /**
   * With `batchSize`: longest time in milliseconds an object waits in a partial batch before the
   * batch is sent. Default: no time limit (a partial batch waits for `flush`, `closeTopics` or
   * `close`, as in ProxyStore). Adaptive batches (no `batchSize`) never wait for a timer.
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
  /**
   * Traces and metrics (see the stream README, "Tracing and metrics"): a `send {topic}` span per
   * object, its W3C trace context carried in the envelope to the consumer, and counters of what
   * was sent. Default: the global OpenTelemetry providers, when an SDK was registered before the
   * producer was made; `false` records nothing.
   */
  telemetry?: TelemetryOptions | false;
}

const EMPTY_METADATA: Metadata = Object.freeze({}) as Metadata;
const RESOLVED: Promise<void> = Promise.resolve();
const FLUSH_ABORTED = 'flush aborted; the batches it cut are still sent';

/** A topic's partial batch, its lifecycle flags and its send chain. */
class TopicState<T> {
  objects: T[] = [];
  metadata: Metadata[] = [];
  evict: boolean[] = [];
  /** `closeTopics` was called: sends are refused. */
  closed = false;
  /** An end-of-stream event is on its way or was accepted: never send another. */
  ending = false;
  timer: NodeJS.Timeout | undefined;
  /** When the last batch was cut (only tracked with heartbeats). */
  lastCut = 0;
  onLinger: () => void = () => undefined;
  /** Adaptive batching: the sends whose objects wait in {@link objects} for the publisher. */
  waiting: WaitingSends | undefined;
  /** How many of {@link objects} were handed over (`owned: true`). */
  owned = 0;
  /** The send span of each of {@link objects}, when tracing. */
  spans: Otel.Span[] = [];

  constructor(
    readonly topic: string,
    readonly chain: SendChain<T>,
  ) {}
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
 * `send` resolves when the publisher accepted the batch of its object (with a fixed `batchSize`:
 * when the object is buffered, or — for the send that completes a batch — when the batch was
 * accepted), so awaiting `send` gives backpressure. Without `batchSize`, batches adapt: a send to
 * an idle topic goes out at once, and the sends made while earlier batches of the topic are on
 * their way share the next batch (see {@link StreamProducerOptions.batchSize}). Batches of one
 * topic are sent in order; each carries the next sequence number of this producer on that topic.
 *
 * @example
 * ```ts
 * await using store = await FileStore.create({ directory: '/data/frames' });
 * await using producer = new StreamProducer(broker.publisher(), { defaultStore: store });
 * await producer.send('frames', frame, { metadata: { camera: 'left' } });
 * await producer.closeTopics('frames');
 * ```
 */
export class StreamProducer<T = unknown> {
  /** Id of this producer, stable for its lifetime, in every batch it sends. */
  readonly producerId: string;
  readonly #publisher: Publisher | EventPublisher;
  readonly #stores: ReadonlyMap<string, Store>;
  readonly #defaultStore: Store | undefined;
  readonly #filter: Filter | undefined;
  /** Fixed objects per batch; `0` for adaptive batches. */
  readonly #batchSize: number;
  readonly #maxBatchObjects: number;
  readonly #maxBatchBytes: number;
  readonly #inlineBelow: number;
  readonly #lingerMs: number | undefined;
  readonly #maxInFlight: number;
  readonly #chainContext: ChainContext<T>;
  readonly #heartbeatMs: number | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #topics = new Map<string, TopicState<T>>();
  #closing: Promise<void> | undefined;
  /** Batches cut and not yet accepted or refused, in cut order. */
  readonly #unsettled = new Set<CutBatch<T>>();
  /**
   * Refusals of batches no caller waits for (sent by the `lingerMs` timer, or left to go on by an
   * aborted `send` or `flush`), reported together by the next call.
   */
  #detachedRefusals: SendRefusedError<T>[] = [];
  /** Spans and counters, when telemetry is on. */
  readonly #telemetry: ProducerTelemetry | undefined;
  /** {@link #telemetry} when it traces sends: the one test a send makes. */
  readonly #tracing: ProducerTelemetry | undefined;

  constructor(publisher: Publisher | EventPublisher, options: StreamProducerOptions<T> = {}) {
    const live = isEventPublisher(publisher);
    if (!live && !isPublisher(publisher))
      throw new InvalidArgumentError('StreamProducer needs a Publisher or an EventPublisher');
    this.#publisher = publisher;
    const stores = options.stores;
    this.#stores =
      stores === undefined
        ? new Map()
        : stores instanceof Map
          ? stores
          : new Map(Object.entries(stores));
    this.#defaultStore = options.defaultStore;
    this.#filter = options.filter;
    this.#batchSize = positiveInteger(options.batchSize, 'batchSize', 0);
    this.#maxBatchObjects = positiveInteger(
      options.maxBatchObjects,
      'maxBatchObjects',
      DEFAULT_MAX_BATCH_OBJECTS,
    );
    this.#maxBatchBytes = positiveInteger(
      options.maxBatchBytes,
      'maxBatchBytes',
      defaultMaxBatchBytes(publisher),
    );
    this.#lingerMs = nonNegative(options.lingerMs, 'lingerMs', undefined);
    const inlineBelow = nonNegative(options.inlineBelow, 'inlineBelow', 0);
    this.#inlineBelow = inlineBelow;
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
    this.#chainContext = {
      assembly: new BatchAssembly<T>({
        producerId: this.producerId,
        serializer: options.serializer ?? (defaultSerializer as Serializer<T>),
        aggregator: options.aggregator,
        inlineBelow,
        live,
      }),
      sender: new BatchSender(publisher, live),
    };
    const telemetry = resolveTelemetry(options.telemetry);
    this.#telemetry =
      telemetry === undefined
        ? undefined
        : new ProducerTelemetry(telemetry, messagingOf(publisher));
    this.#tracing = this.#telemetry?.tracing ? this.#telemetry : undefined;
  }

  /**
   * Sends `object` to `topic`: at once when the topic's publisher has room, else in the next
   * adaptive batch; with a fixed `batchSize`, buffers it and sends the batch once it holds
   * `batchSize` objects. An object the producer's filter drops resolves at once and is never sent.
   *
   * A resolved `send` means the object was accepted, or (with `batchSize`) is buffered and will be: if its batch is
   * later refused by the publisher, the call that sent the batch (the `send` that filled it,
   * `flush`, `closeTopics`, `close`, or — for a batch the `lingerMs` timer sent — the next of
   * these calls) rejects with {@link SendRefusedError}, whose `unsent` lists every object of the
   * batch to send again, those whose `send` had resolved included. Nothing is dropped silently.
   * @throws `AbortedError` when `options.signal` aborted before the object was handed over (see {@link SendOptions.signal}).
   * @throws {@link SendRefusedError} when the batch this object completed was refused.
   * @throws {@link TopicClosedError} when `topic` was closed with {@link closeTopics}.
   * @throws {@link ClosedError} after {@link close}.
   */
  send(topic: string, object: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('StreamProducer'));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError('send aborted: nothing was sent'));
    const state = this.#topic(topic);
    if (state.closed) return Promise.reject(new TopicClosedError(topic));
    const metadata = options?.metadata ?? EMPTY_METADATA;
    if (this.#detachedRefusals.length > 0) {
      // A batch the timer sent was refused: report it now, with this object (not taken) too.
      const failure = this.#takeDetachedRefusal()!;
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
    if (this.#batchSize === 0) return this.#sendAdaptive(state, object, metadata, options, signal);
    state.objects.push(object);
    if (this.#tracing !== undefined) state.spans.push(this.#tracing.startSend(topic));
    state.metadata.push(metadata);
    state.evict.push(options?.evict ?? true);
    if (options?.owned === true) state.owned++;
    if (state.objects.length >= this.#batchSize) {
      return signal === undefined
        ? this.#flushState(state, false)
        : this.#flushAbortable(state, signal);
    }
    if (this.#lingerMs !== undefined && state.timer === undefined) {
      state.timer = setTimeout(state.onLinger, this.#lingerMs);
    }
    return RESOLVED;
  }

  /**
   * Adaptive batching: sends the object at once when the topic's chain has room, else adds it to
   * the objects waiting for room (cutting them first when this one would take them past
   * `maxBatchBytes`, and after it when they reach `maxBatchObjects`). A send with a signal cuts
   * the batch it ends, so that an abort can still take it out (see {@link SendOptions.signal}).
   */
  #sendAdaptive(
    state: TopicState<T>,
    object: T,
    metadata: Metadata,
    options: SendOptions | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const chain = state.chain;
    let waiting = state.waiting;
    const bytes =
      waiting === undefined && chain.hasRoom
        ? 0
        : envelopeBytes(
            object,
            this.#chainContext.assembly.largestSerialized,
            chain.store !== undefined,
            this.#inlineBelow,
          );
    if (waiting !== undefined && waiting.bytes + bytes > this.#maxBatchBytes) {
      void this.#flushState(state, false);
      waiting = undefined;
    }
    state.objects.push(object);
    if (this.#tracing !== undefined) state.spans.push(this.#tracing.startSend(state.topic));
    state.metadata.push(metadata);
    state.evict.push(options?.evict ?? true);
    if (options?.owned === true) state.owned++;
    if (signal !== undefined) return this.#flushAbortable(state, signal);
    if (waiting === undefined) {
      if (chain.hasRoom) return this.#flushState(state, false);
      waiting = new WaitingSends();
      state.waiting = waiting;
      this.#cutWithRoom(state, waiting);
    }
    waiting.bytes += bytes;
    if (state.objects.length >= this.#maxBatchObjects) void this.#flushState(state, false);
    return waiting.promise;
  }

  /**
   * Cuts the objects of `waiting` once the topic's chain has room, unless they were cut before
   * (a bound, a flush): a later group of waiting sends has its own call.
   */
  #cutWithRoom(state: TopicState<T>, waiting: WaitingSends): void {
    void state.chain.room().then(() => {
      if (state.waiting !== waiting) return;
      if (state.chain.hasRoom) void this.#flushState(state, false);
      else this.#cutWithRoom(state, waiting);
    });
  }

  /**
   * Sends every partial batch; resolves when the publisher accepted everything sent so far.
   * @throws `AbortedError` when `options.signal` aborts (see {@link FlushOptions.signal}).
   */
  async flush(options?: FlushOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) throw new AbortedError('flush aborted: nothing was cut');
    const failure = this.#takeDetachedRefusal();
    if (failure !== undefined) throw failure;
    const all = allReported<T>(
      Array.from(this.#topics.values(), (state) => this.#flushState(state, false)),
    );
    await (signal === undefined
      ? all
      : abortable(all, signal, { message: FLUSH_ABORTED, onAbort: () => this.#detach(all) }));
  }

  /**
   * Sends the partial batch of `topic`; resolves when the publisher accepted everything sent so far on it.
   * @throws `AbortedError` when `options.signal` aborts (see {@link FlushOptions.signal}).
   */
  async flushTopic(topic: string, options?: FlushOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) throw new AbortedError('flush aborted: nothing was cut');
    const failure = this.#takeDetachedRefusal();
    if (failure !== undefined) throw failure;
    const state = this.#topics.get(topic);
    if (state === undefined) return;
    const flushed = this.#flushState(state, false);
    await (signal === undefined
      ? flushed
      : abortable(flushed, signal, {
          message: FLUSH_ABORTED,
          onAbort: () => this.#detach(flushed),
        }));
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
        if (state.ending) return state.chain.drained();
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
      if (state.objects.length > 0 || !state.chain.idle) continue;
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
    failure ??= this.#takeDetachedRefusal();
    try {
      if (options.publisher ?? true) await this.#publisher.close();
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

  /** The refusals of batches no caller waited for, not reported yet, as one error; clears them. */
  #takeDetachedRefusal(): SendRefusedError<T> | undefined {
    const errors = this.#detachedRefusals;
    if (errors.length === 0) return undefined;
    this.#detachedRefusals = [];
    return mergeRefusals(errors);
  }

  #topic(topic: string): TopicState<T> {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      const store = this.#stores.get(topic) ?? this.#defaultStore;
      const chain =
        this.#maxInFlight > 1
          ? new PipelinedSendChain<T>(topic, store, this.#chainContext, this.#maxInFlight)
          : new SerialSendChain<T>(topic, store, this.#chainContext);
      const created = new TopicState<T>(topic, chain);
      created.onLinger = () => {
        created.timer = undefined;
        this.#detach(this.#flushState(created, false));
      };
      state = created;
      this.#topics.set(topic, state);
    }
    return state;
  }

  /**
   * Cuts the batch that `send` just filled, for a send with a signal: an abort before the batch
   * is handed over rejects at once and takes the object out of it (see {@link SendOptions.signal}).
   */
  #flushAbortable(state: TopicState<T>, signal: AbortSignal): Promise<void> {
    const withdrawal = new Withdrawal();
    const run = this.#flushState(state, false, false, withdrawal);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        if (withdrawal.settled) return;
        withdrawal.aborted = true;
        reject(new AbortedError('send aborted before its batch was handed to the publisher'));
        this.#detach(run);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Nobody waits for `run` any more: a refusal is reported by the next call. */
  #detach(run: Promise<void>): void {
    run.catch((error: unknown) => {
      if (error instanceof SendRefusedError) this.#detachedRefusals.push(error);
    });
  }

  /** Cuts the buffered objects into a batch and queues it behind the topic's batches in flight. */
  #flushState(
    state: TopicState<T>,
    endOfStream: boolean,
    heartbeat = false,
    withdrawal: Withdrawal | undefined = undefined,
  ): Promise<void> {
    if (state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.objects.length === 0 && !endOfStream && !heartbeat) return state.chain.drained();
    if (this.#heartbeatMs !== undefined) state.lastCut = Date.now();
    const objects = state.objects;
    const metadata = state.metadata;
    const evict = state.evict;
    const owned = state.owned > 0 && state.owned === objects.length;
    state.objects = [];
    state.metadata = [];
    state.evict = [];
    state.owned = 0;
    let telemetry: BatchTelemetry | undefined;
    if (this.#telemetry !== undefined) {
      const spans = state.spans;
      if (spans.length > 0) state.spans = [];
      telemetry = this.#telemetry.batch(state.topic, spans);
    }
    const run = this.#accountFor(
      state.chain.enqueue(objects, metadata, evict, endOfStream, withdrawal, owned, telemetry),
      new CutBatch(state.topic, objects, metadata, evict),
      telemetry,
      withdrawal,
    );
    const waiting = state.waiting;
    if (waiting !== undefined) {
      state.waiting = undefined;
      waiting.follow(run);
    }
    return run;
  }

  /**
   * Keeps `batch` listed as unsettled until `run` settles; a refusal becomes a
   * {@link SendRefusedError} naming every object of the batch.
   */
  #accountFor(
    run: Promise<void>,
    batch: CutBatch<T>,
    telemetry: BatchTelemetry | undefined,
    withdrawal: Withdrawal | undefined,
  ): Promise<void> {
    const unsettled = this.#unsettled;
    unsettled.add(batch);
    return run.then(
      () => {
        unsettled.delete(batch);
        telemetry?.owner.settled(
          telemetry,
          batch.objects.length,
          undefined,
          withdrawal?.aborted === true,
        );
      },
      (error: unknown) => {
        unsettled.delete(batch);
        telemetry?.owner.settled(
          telemetry,
          batch.objects.length,
          error,
          withdrawal?.aborted === true,
        );
        throw new SendRefusedError(batch.unsent(), { cause: error });
      },
    );
  }
}
