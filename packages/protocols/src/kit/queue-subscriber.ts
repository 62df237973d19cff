import type { MessagesLostError } from '../errors.js';
import { MessageQueue } from '../message-queue.js';

/** Options of {@link QueueSubscriber}. */
export interface QueueSubscriberOptions {
  /** Items held before the queue counts as full ({@link MessageQueue.isFull}). Default 1024. */
  capacity?: number;
  /** Aborting ends the iteration like `close()`. */
  signal?: AbortSignal | undefined;
  /** Called once when drops begin (see {@link LossReporting}); a throwing callback is ignored. */
  onLoss?: ((error: MessagesLostError) => void) | undefined;
}

/**
 * The loss option of every fan-out subscriber: how a subscriber reports messages that the broker
 * or its own buffer dropped. The rule, the same on every shim:
 *
 * 1. `next()` rejects with {@link MessagesLostError} once per loss, at the place in the stream
 *    where it happened: after the messages received before it, also when nobody was reading at
 *    the time, and also when what was lost was the end of the stream.
 * 2. The subscriber stays open: calling `next()` again (or a new `for await`) goes on with the
 *    messages after the loss.
 * 3. `onLoss`, when given, is also called when the drops begin, for logs and metrics; it does not
 *    replace rule 1.
 * 4. A broken connection always counts as a loss on a broker that keeps nothing (it cannot say
 *    what it did not deliver), so a lost end-of-stream is reported rather than waited for.
 */
export interface LossReporting {
  /** Called once when drops begin; `next()` still rejects at the place of the loss. */
  onLoss?: (error: MessagesLostError) => void;
}

/** A place in the stream where messages went missing; it waits in the queue like a message. */
class LossMarker {
  dropped = 0;
  constructor(
    readonly kind: string,
    readonly describe: (dropped: number) => MessagesLostError,
  ) {}
}

/**
 * The base of every queue-backed subscriber: the shim fills the queue from its client's callbacks
 * or its read loop ({@link push}, {@link pushWait}, {@link fail}, {@link lose}) and implements
 * {@link release}; the base gives `next`, `return`, `for await`, `close`, `Symbol.asyncDispose`,
 * the signal and the loss rule ({@link LossReporting}), the same on every broker.
 *
 * `Item` is what the shim queues (a client message with its ack handle, say); {@link taken} turns
 * it into the bytes yielded, at the moment the reader takes it.
 *
 * @example
 * ```ts
 * class MySubscriber extends QueueSubscriber<Buffer> {
 *   protected taken(item: Buffer): Uint8Array { return item; }
 *   protected async release(): Promise<void> { await this.client.unsubscribe(); }
 * }
 * ```
 */
export abstract class QueueSubscriber<Item = Uint8Array>
  implements AsyncIterableIterator<Uint8Array>, AsyncDisposable
{
  readonly #queue: MessageQueue<Item | LossMarker>;
  readonly #onLoss: ((error: MessagesLostError) => void) | undefined;
  /** Loss markers in the queue (its size counts them too). */
  #markers = 0;
  /** The marker at the tail of the queue, which further drops of its kind are added to. */
  #openLoss: LossMarker | undefined;

  protected constructor(options: QueueSubscriberOptions = {}) {
    this.#onLoss = options.onLoss;
    this.#queue = new MessageQueue<Item | LossMarker>({
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onClose: () => this.release(),
    });
  }

  /** Turns a queued item into the message yielded; runs when the reader takes it. */
  protected abstract taken(item: Item): Uint8Array;

  /** Releases what the subscriber opened; runs once, when it closes (close, signal, `break`). */
  protected abstract release(): void | Promise<void>;

  /** True once closed, by `close()`, the signal, `break`, or a {@link fail}ure. */
  get closed(): boolean {
    return this.#queue.isClosed;
  }

  /** Items queued and not yet read (loss markers excluded). */
  protected get buffered(): number {
    return this.#queue.size - this.#markers;
  }

  /** True when the queue holds `capacity` entries or more. */
  protected get full(): boolean {
    return this.#queue.isFull;
  }

  /** Queues an item without waiting; false when closed. A later drop is a new loss. */
  protected push(item: Item): boolean {
    this.#openLoss = undefined;
    return this.#queue.push(item);
  }

  /** Queues an item once there is room (backpressure); false when the subscriber closed instead. */
  protected pushWait(item: Item): Promise<boolean> {
    this.#openLoss = undefined;
    return this.#queue.pushWait(item);
  }

  /** Ends the iteration with `error`, delivered after the items already queued. */
  protected fail(error: unknown): void {
    this.#queue.fail(error);
  }

  /**
   * Records `count` lost messages of `kind` at the current place in the stream. Drops of one kind
   * in a row (no message in between) are one loss; `describe(dropped)` makes its error when the
   * reader reaches it (and, with `ongoing` wording, for `onLoss`).
   */
  protected lose(kind: string, describe: (dropped: number) => MessagesLostError, count = 1): void {
    const open = this.#openLoss;
    if (open !== undefined && open.kind === kind) {
      open.dropped += count;
      return;
    }
    const marker = new LossMarker(kind, describe);
    marker.dropped = count;
    if (!this.#queue.push(marker)) return;
    this.#markers++;
    this.#openLoss = marker;
    const onLoss = this.#onLoss;
    if (onLoss === undefined) return;
    try {
      onLoss(describe(count));
    } catch {
      // A throwing callback must not break delivery.
    }
  }

  /**
   * The next message, or `done` once closed.
   * @throws {@link MessagesLostError} once per loss, where it happened; `next()` again goes on.
   */
  next(): Promise<IteratorResult<Uint8Array>> {
    return this.#queue.next().then(this.#take);
  }

  /** Called by `break` in `for await`: closes the subscriber. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Ends a pending iteration at once (`done: true`) and releases the subscription. Safe to call twice. */
  close(): Promise<void> {
    return this.#queue.close();
  }

  /** `await using subscriber = await X.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  readonly #take = (result: IteratorResult<Item | LossMarker>): IteratorResult<Uint8Array> => {
    if (result.done === true) return result;
    const value = result.value;
    if (value instanceof LossMarker) {
      this.#markers--;
      if (this.#openLoss === value) this.#openLoss = undefined;
      throw value.describe(value.dropped);
    }
    return { done: false, value: this.taken(value) };
  };
}
