import type {
  EventBatch,
  EventPublisher,
  Metadata,
  Publisher,
  PublishOptions,
  Store,
  StoreConfig,
  StreamEvent,
} from '@proxystream/protocols';
import type { BatchAssembly, BatchTarget, PreparedBatch } from './batch-assembly.js';
import type { BatchTelemetry } from './producer-telemetry.js';
import { encodeBatch } from './wire-codec.js';

const RESOLVED: Promise<void> = Promise.resolve();
/** An encoded envelope is the producer's own and never touched again: the shim may keep it. */
const HANDED_OVER: PublishOptions = Object.freeze({ owned: true });

/** Hands assembled batches to the producer's publisher: encoded for a byte publisher, as they are for an event publisher. */
export class BatchSender {
  readonly #publisher: Publisher | undefined;
  readonly #eventPublisher: EventPublisher | undefined;

  constructor(publisher: Publisher | EventPublisher, live: boolean) {
    if (live) this.#eventPublisher = publisher as EventPublisher;
    else this.#publisher = publisher as Publisher;
  }

  /** Sends `batch` through the publisher; never throws synchronously. */
  publish(batch: EventBatch): Promise<void> {
    try {
      return this.#eventPublisher !== undefined
        ? this.#eventPublisher.sendEvents(batch)
        : this.#publisher!.send(batch.topic, encodeBatch(batch), HANDED_OVER);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Deletes the data of a batch that will never be sent: nobody will ever hear of these keys. */
async function forget(store: Store, keys: readonly string[]): Promise<void> {
  await Promise.allSettled(keys.map((key) => store.evict(key)));
}

/**
 * The object of one `send` that was given a `signal` and cut a batch (so it is the batch's last
 * object), from the cut until the batch is handed to the publisher. An abort before then takes
 * the object out of the batch at the next point where the chain looks (before assembly, or after
 * the store's put and the wait for a pipeline slot, deleting its stored data); after it, an abort
 * is ignored.
 */
export class Withdrawal {
  /** The send was aborted while its object could still be taken out. */
  aborted = false;
  /** The object was taken out, or handed over: nothing more to decide. */
  settled = false;

  /**
   * Before assembly: takes the object out of the batch's arrays when the send was aborted.
   * `last` (the batch goes to the publisher without another look) settles the withdrawal.
   * @returns whether the object was taken out.
   */
  takeBack(objects: unknown[], metadata: Metadata[], evict: boolean[], last: boolean): boolean {
    if (this.settled) return false;
    if (!this.aborted) {
      if (last) this.settled = true;
      return false;
    }
    this.settled = true;
    objects.pop();
    metadata.pop();
    evict.pop();
    return true;
  }

  /**
   * After assembly, right before the hand-over: takes the object's event out of `prepared` (and
   * its stored data out of `store`) when the send was aborted meanwhile; settles the withdrawal.
   * @returns whether the object was taken out.
   */
  async takeBackEvent(
    prepared: PreparedBatch,
    store: Store | undefined,
    objects: unknown[],
    metadata: Metadata[],
    evict: boolean[],
  ): Promise<boolean> {
    if (this.settled) return false;
    this.settled = true;
    if (!this.aborted) return false;
    objects.pop();
    metadata.pop();
    evict.pop();
    // A send never ends the stream, so its object's event is the last one; the array is the
    // assembly's own, not yet handed to anyone.
    const event = (prepared.batch.events as StreamEvent[]).pop();
    if (event?.type === 'new-object' && event.body.kind === 'stored' && store !== undefined) {
      const key = event.body.key;
      prepared.keys = prepared.keys?.filter((other) => other !== key);
      await forget(store, [key]);
    }
    return true;
  }
}

/**
 * The batches of one topic on their way to the publisher, in cut order: each carries the next
 * sequence number, and `enqueue`'s promise settles when its batch was accepted (or refused).
 */
export interface SendChain<T> extends BatchTarget {
  readonly store: Store | undefined;
  /**
   * Queues a cut batch; the promise resolves when it was accepted and rejects with the
   * publisher's (or the store's) error when it was refused.
   */
  enqueue(
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    telemetry?: BatchTelemetry,
  ): Promise<void>;
  /** Resolves when every batch queued so far was accepted or refused; never rejects. */
  drained(): Promise<void>;
  /** No batch is queued or in flight. */
  readonly idle: boolean;
  /**
   * A batch cut now would be handed to the publisher at once: fewer batches are queued or in
   * flight than the chain hands over without waiting (one for a serial chain).
   */
  readonly hasRoom: boolean;
  /** Resolves once {@link hasRoom} holds again (at once if it does); never rejects. */
  room(): Promise<void>;
}

/** What a chain needs of its producer. */
export interface ChainContext<T> {
  readonly assembly: BatchAssembly<T>;
  readonly sender: BatchSender;
}

/**
 * One batch in flight at a time (`maxBatchesInFlight: 1`): a batch goes out only once the
 * previous one was accepted, so a refused batch does not use up a sequence number.
 */
export class SerialSendChain<T> implements SendChain<T> {
  /** Sequence of the next batch; advanced only when the publisher accepted a batch. */
  sequence = 0;
  storeConfig: StoreConfig | undefined;
  /** Batches cut but not yet accepted; they are sent one after the other, in order. */
  #pending = 0;
  #tail: Promise<void> = RESOLVED;
  readonly #settled = (): void => {
    this.#pending--;
  };
  /** The batch was accepted, so its sequence number is used up. */
  readonly #accepted = (): void => {
    this.sequence++;
  };

  constructor(
    readonly topic: string,
    readonly store: Store | undefined,
    readonly context: ChainContext<T>,
  ) {}

  get idle(): boolean {
    return this.#pending === 0;
  }

  get hasRoom(): boolean {
    return this.#pending === 0;
  }

  room(): Promise<void> {
    return this.#tail;
  }

  enqueue(
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    telemetry?: BatchTelemetry,
  ): Promise<void> {
    this.#pending++;
    const run =
      this.#pending === 1
        ? this.#send(objects, metadata, evict, endOfStream, withdrawal, owned, telemetry)
        : this.#tail.then(() =>
            this.#send(objects, metadata, evict, endOfStream, withdrawal, owned, telemetry),
          );
    this.#tail = run.then(this.#settled, this.#settled);
    return run;
  }

  drained(): Promise<void> {
    return this.#tail;
  }

  /** Sends one batch (the previous batch of the topic was accepted or refused). */
  #send(
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    telemetry: BatchTelemetry | undefined,
  ): Promise<void> {
    const store = this.store;
    const assembly = this.context.assembly;
    if (
      withdrawal?.takeBack(
        objects,
        metadata,
        evict,
        store === undefined || !assembly.oneEventPerObject,
      ) &&
      objects.length === 0 &&
      !endOfStream
    ) {
      return RESOLVED;
    }
    if (store !== undefined) {
      return this.#sendStored(
        store,
        objects,
        metadata,
        evict,
        endOfStream,
        withdrawal,
        owned,
        telemetry,
      );
    }
    let batch: EventBatch;
    try {
      batch = assembly.inline(this, objects, metadata, evict, endOfStream, telemetry);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.context.sender.publish(batch).then(this.#accepted);
  }

  async #sendStored(
    store: Store,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    telemetry: BatchTelemetry | undefined,
  ): Promise<void> {
    let prepared: PreparedBatch;
    try {
      prepared = await this.context.assembly.stored(
        this,
        store,
        objects,
        metadata,
        evict,
        endOfStream,
        owned,
        telemetry,
      );
    } catch (error) {
      // An object aborted during the failed put is not reported as unsent: its send said so.
      withdrawal?.takeBack(objects, metadata, evict, true);
      throw error;
    }
    if (
      withdrawal !== undefined &&
      (await withdrawal.takeBackEvent(prepared, store, objects, metadata, evict)) &&
      prepared.batch.events.length === 0
    ) {
      return;
    }
    try {
      await this.context.sender.publish(prepared.batch);
    } catch (error) {
      if (prepared.keys !== undefined) await forget(store, prepared.keys);
      throw error;
    }
    this.sequence++;
  }
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
 * Pipelined sends (`maxBatchesInFlight` > 1): a batch is handed to the publisher right after the
 * previous one was handed over (and while fewer than `maxBatchesInFlight` wait for acceptance).
 * A batch's promise resolves once it and every earlier one were accepted, and rejects as soon as
 * it was refused; a refused batch leaves a gap in the sequence.
 */
export class PipelinedSendChain<T> implements SendChain<T> {
  /** Sequence of the next batch; advanced when a batch is handed over, accepted or not. */
  sequence = 0;
  storeConfig: StoreConfig | undefined;
  /** Resolves when the last cut batch was handed to the publisher (or failed before). */
  #handedOver: Promise<void> = RESOLVED;
  /** Batches cut and not yet handed to the publisher (nor failed before). */
  #unhanded = 0;
  /** Batches handed to the publisher and not yet accepted or refused. */
  #inFlight = 0;
  /** A batch waiting for {@link #inFlight} to drop below the limit. */
  #slotWaiter: (() => void) | undefined;
  /** The oldest batch whose send has not resolved yet, then the later ones in order. */
  #oldest: PipelinedBatch | undefined;
  /** The newest batch of the list that starts at {@link #oldest}. */
  #newest: PipelinedBatch | undefined;
  /** Callers of {@link room} waiting for a batch to be handed over or to settle. */
  #roomWaiters: (() => void)[] = [];

  constructor(
    readonly topic: string,
    readonly store: Store | undefined,
    readonly context: ChainContext<T>,
    readonly maxInFlight: number,
  ) {}

  get idle(): boolean {
    return this.#oldest === undefined;
  }

  get hasRoom(): boolean {
    return this.#unhanded + this.#inFlight < this.maxInFlight;
  }

  room(): Promise<void> {
    if (this.hasRoom) return RESOLVED;
    return new Promise<void>((resolve) => {
      this.#roomWaiters.push(resolve);
    });
  }

  /** Wakes the callers of {@link room} once there is room. */
  #wakeRoom(): void {
    if (this.#roomWaiters.length === 0 || !this.hasRoom) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  drained(): Promise<void> {
    const newest = this.#newest;
    if (newest === undefined) return RESOLVED;
    return new Promise<void>((resolve) => {
      if (newest.drainWaiters === undefined) newest.drainWaiters = [resolve];
      else newest.drainWaiters.push(resolve);
    });
  }

  enqueue(
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    telemetry?: BatchTelemetry,
  ): Promise<void> {
    const entry = new PipelinedBatch();
    if (this.#newest === undefined) this.#oldest = entry;
    else this.#newest.next = entry;
    this.#newest = entry;
    if (this.#unhanded === 0 && this.#inFlight < this.maxInFlight && this.store === undefined) {
      // Nothing ahead waits to be handed over, a slot is free and no store round trip is needed:
      // hand the batch over now, without a hop through the microtask queue.
      let batch: EventBatch;
      try {
        if (
          withdrawal?.takeBack(objects, metadata, evict, true) &&
          objects.length === 0 &&
          !endOfStream
        ) {
          this.#settle(entry, false, undefined);
          return entry.promise;
        }
        batch = this.context.assembly.inline(
          this,
          objects,
          metadata,
          evict,
          endOfStream,
          telemetry,
        );
      } catch (error) {
        this.#settle(entry, true, error);
        return entry.promise;
      }
      this.#track(entry, this.#handOver(batch), undefined);
      return entry.promise;
    }
    this.#unhanded++;
    let handedOver!: () => void;
    const previous = this.#handedOver;
    this.#handedOver = new Promise<void>((resolve) => {
      handedOver = resolve;
    });
    void previous.then(() =>
      this.#handOverLater(
        entry,
        objects,
        metadata,
        evict,
        endOfStream,
        withdrawal,
        owned,
        handedOver,
        telemetry,
      ),
    );
    return entry.promise;
  }

  /** Slow path of {@link enqueue}: store round trip and/or waiting for a free slot. */
  async #handOverLater(
    entry: PipelinedBatch,
    objects: T[],
    metadata: Metadata[],
    evict: boolean[],
    endOfStream: boolean,
    withdrawal: Withdrawal | undefined,
    owned: boolean,
    handedOver: () => void,
    telemetry: BatchTelemetry | undefined,
  ): Promise<void> {
    const store = this.store;
    const assembly = this.context.assembly;
    let prepared: PreparedBatch | undefined;
    try {
      if (
        !(
          withdrawal?.takeBack(objects, metadata, evict, !assembly.oneEventPerObject) &&
          objects.length === 0 &&
          !endOfStream
        )
      ) {
        prepared =
          store === undefined
            ? {
                batch: assembly.inline(this, objects, metadata, evict, endOfStream, telemetry),
                keys: undefined,
              }
            : await assembly.stored(
                this,
                store,
                objects,
                metadata,
                evict,
                endOfStream,
                owned,
                telemetry,
              );
        await this.#slot();
        if (
          withdrawal !== undefined &&
          (await withdrawal.takeBackEvent(prepared, store, objects, metadata, evict)) &&
          prepared.batch.events.length === 0
        ) {
          prepared = undefined;
        }
      }
    } catch (error) {
      withdrawal?.takeBack(objects, metadata, evict, true);
      if (prepared?.keys !== undefined) await forget(store!, prepared.keys);
      this.#unhanded--;
      handedOver();
      this.#settle(entry, true, error);
      this.#wakeRoom();
      return;
    }
    if (prepared === undefined) {
      // Its only object was withdrawn: nothing to send, no sequence number used.
      this.#unhanded--;
      handedOver();
      this.#settle(entry, false, undefined);
      this.#wakeRoom();
      return;
    }
    // The batch's sequence was read when it was prepared; no other batch of the topic was handed
    // over since (hand-overs are serialised), so it is still the topic's next one.
    const accepted = this.#handOver(prepared.batch);
    this.#unhanded--;
    handedOver();
    this.#track(entry, accepted, prepared.keys);
  }

  /** Gives a prepared batch to the publisher; the sequence is used up, accepted or not. */
  #handOver(batch: EventBatch): Promise<void> {
    this.#inFlight++;
    this.sequence++;
    return this.context.sender.publish(batch);
  }

  /** Settles `entry` when the publisher accepted or refused it, and frees its slot. */
  #track(entry: PipelinedBatch, accepted: Promise<void>, keys: string[] | undefined): void {
    accepted.then(
      () => {
        this.#freeSlot();
        this.#settle(entry, false, undefined);
      },
      async (error: unknown) => {
        if (keys !== undefined) await forget(this.store!, keys);
        this.#freeSlot();
        this.#settle(entry, true, error);
      },
    );
  }

  #freeSlot(): void {
    this.#inFlight--;
    const waiter = this.#slotWaiter;
    this.#slotWaiter = undefined;
    waiter?.();
    this.#wakeRoom();
  }

  /**
   * Records the outcome of `entry`: a refusal rejects its send at once; an acceptance resolves it
   * once every earlier batch settled too. Then releases every leading settled batch.
   */
  #settle(entry: PipelinedBatch, refused: boolean, error: unknown): void {
    entry.settled = true;
    if (refused) {
      entry.refused = true;
      entry.reject(error);
    }
    let head = this.#oldest;
    while (head?.settled) {
      if (!head.refused) head.resolve();
      const waiters = head.drainWaiters;
      if (waiters !== undefined) for (const wake of waiters) wake();
      head = head.next;
    }
    this.#oldest = head;
    if (head === undefined) this.#newest = undefined;
  }

  /** Waits until fewer than `maxBatchesInFlight` batches of the topic wait for acceptance. */
  async #slot(): Promise<void> {
    while (this.#inFlight >= this.maxInFlight) {
      await new Promise<void>((resolve) => {
        this.#slotWaiter = resolve;
      });
    }
  }
}
