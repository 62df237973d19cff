interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

/** Options of {@link MessageQueue}. */
export interface MessageQueueOptions {
  /** Items held before {@link MessageQueue.pushWait} waits and {@link MessageQueue.isFull} is true. Default 1024. */
  capacity?: number;
  /** Aborting closes the queue. */
  signal?: AbortSignal;
  /** Called once when the queue closes, by `close()`, by the signal or by a consumer's `break`. */
  onClose?: () => void | Promise<void>;
}

/**
 * A bounded FIFO that a shim fills from its client's callbacks and a consumer drains with
 * `for await`. It is the one building block every subscriber in proxystream shares, so that
 * close, abort, `break` and error semantics are the same on every broker.
 *
 * - `close()` ends a pending `next()` at once with `done: true` and drops buffered items.
 * - `fail(error)` delivers buffered items first, then rejects `next()` with `error`.
 * - `pushWait` waits while the queue is full: a slow consumer slows the producer.
 */
export class MessageQueue<T> implements AsyncIterableIterator<T>, AsyncDisposable {
  readonly #capacity: number;
  readonly #onClose: (() => void | Promise<void>) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #abortListener: (() => void) | undefined;
  #items: T[] = [];
  #head = 0;
  #waiter: Waiter<T> | undefined;
  #roomWaiters: Array<() => void> = [];
  #closed = false;
  #error: unknown = undefined;
  #failed = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: MessageQueueOptions = {}) {
    this.#capacity = options.capacity ?? 1024;
    this.#onClose = options.onClose;
    this.#signal = options.signal;
    if (this.#signal) {
      if (this.#signal.aborted) {
        this.#closed = true;
      } else {
        this.#abortListener = () => void this.close();
        this.#signal.addEventListener('abort', this.#abortListener, { once: true });
      }
    }
  }

  /** Number of buffered items. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** True when the buffer holds `capacity` items or more. */
  get isFull(): boolean {
    return this.size >= this.#capacity;
  }

  /** True once closed or failed. */
  get isClosed(): boolean {
    return this.#closed || this.#failed;
  }

  /** Appends an item without waiting, even beyond capacity. Returns false when the queue is closed. */
  push(item: T): boolean {
    if (this.#closed || this.#failed) return false;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ value: item, done: false });
      return true;
    }
    this.#items.push(item);
    return true;
  }

  /** Appends an item once there is room. Resolves false when the queue closed instead. */
  async pushWait(item: T): Promise<boolean> {
    while (this.isFull && !this.isClosed) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    return this.push(item);
  }

  /** Ends the queue with an error, delivered after the items already buffered. */
  fail(error: unknown): void {
    if (this.#closed || this.#failed) return;
    this.#failed = true;
    this.#error = error;
    const waiter = this.#waiter;
    if (waiter && this.size === 0) {
      this.#waiter = undefined;
      waiter.reject(error);
    }
    this.#wakeProducers();
  }

  /** Resolves with the next item, or `done` once closed. */
  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      const value = this.#items[this.#head] as T;
      this.#items[this.#head] = undefined as T;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (this.#roomWaiters.length > 0 && !this.isFull) this.#wakeProducers();
      return Promise.resolve({ value, done: false });
    }
    if (this.#failed && !this.#closed) {
      return Promise.reject(this.#error);
    }
    if (this.#closed) {
      if (this.#signal?.aborted && this.#closePromise === undefined) void this.close();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#waiter) {
      return Promise.reject(
        new Error('MessageQueue.next() called while another next() is pending'),
      );
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Called by `break` in `for await`: closes the queue. */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Closes the queue: pending and later `next()` calls resolve `done`, `onClose` runs once. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closed = true;
    this.#items = [];
    this.#head = 0;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve({ value: undefined, done: true });
    this.#wakeProducers();
    if (this.#signal && this.#abortListener) {
      this.#signal.removeEventListener('abort', this.#abortListener);
    }
    this.#closePromise = Promise.resolve().then(() => this.#onClose?.());
    return this.#closePromise;
  }

  /** Same as {@link close}: `await using` closes the queue at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #wakeProducers(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }
}
