import {
  ClosedError,
  InvalidArgumentError,
  ObjectTooLargeError,
  type Store,
  type StoreConfig,
  StoreFullError,
} from '@proxystream/protocols';
import { nonNegative } from '@proxystream/protocols/kit';
import {
  SharedMemoryPool,
  type SharedMemoryPoolHandle,
  type SlotAddress,
} from './shared-memory-pool.js';

/** Options of {@link SharedMemoryStore}. */
export interface SharedMemoryStoreOptions {
  /** The pool holding the bytes, or its handle (from `workerData`, say). */
  pool: SharedMemoryPool | SharedMemoryPoolHandle;
  /**
   * How long `put` and `putBatch` wait for a free slot when every slot that fits is taken, in ms;
   * then they reject with `StoreFullError`. `0` rejects at once. Default 5 000.
   */
  fullTimeoutMs?: number;
}

/**
 * A store in a {@link SharedMemoryPool}: the `worker_threads` threads of one process share its
 * bytes, so a reference resolved in a worker reads the bytes the producer wrote, **without a copy
 * per resolve**. `put` copies the object into a slot once (the caller may reuse its buffer);
 * `get` returns a `Uint8Array` view into the pool's `SharedArrayBuffer`. Its config is
 * `{ kind: 'shared', name }`; a {@link SharedMemoryStoreFactory} given the pool's handle opens it
 * in another thread. Another process cannot open it.
 *
 * **Views and eviction.** A view from `get` never changes under its reader: an evicted object's
 * slot is reused only once every view `get` returned for it is gone — released with
 * {@link releaseSharedMemory}, or garbage-collected (a `FinalizationRegistry` in each thread drops
 * the view's count in the shared header). Until then the slot is "release pending" and counts as
 * taken. Two consequences:
 * - Release views you are done with (`releaseSharedMemory(frame)`): the collector may take a long
 *   time to notice a small view in a thread that allocates little, and the pool fills meanwhile.
 *   A thread that exits holding views keeps their slots for the life of the pool.
 * - The rule follows the view `get` returned (with the default serializer, the very value a byte
 *   payload's reference resolves to). Views made from it — `subarray()`, `Buffer.from(view.buffer,
 *   …)`, a `DataView` — do not hold the slot: keep the returned view reachable while you read them,
 *   or copy the bytes.
 *
 * **A full pool.** `put` waits up to `fullTimeoutMs` for a slot to free up, then rejects with
 * `StoreFullError` (code `'STORE_FULL'`). The pool is bounded on purpose: slots come back as
 * consumers resolve one-shot references or evict, so a short wait is backpressure — a producer
 * that runs ahead of its workers slows to their pace instead of failing — while the time limit
 * turns a pool that no longer drains (consumers gone, views never released, objects never
 * evicted) into an error the caller can handle instead of a hang. An object larger than the
 * largest slot rejects at once with `ObjectTooLargeError`, and a `putBatch` of more objects than
 * the pool has slots at once with `StoreFullError`: waiting could never help them.
 *
 * `get` on an evicted or reused slot's key answers `undefined`; a key the pool could not have made
 * (another pool's, a slot out of range, any other form) throws `InvalidStoreKeyError`.
 *
 * @example
 * ```ts
 * const pool = new SharedMemoryPool({ name: 'frames', slotBytes: 4 * 1024 * 1024, slots: 32 });
 * const store = await SharedMemoryStore.create({ pool });
 * const worker = new Worker(url, { workerData: { pool: pool.handle() } });
 * // in the worker:
 * const stores = new StoreCache([new SharedMemoryStoreFactory({ pools: [workerData.pool] })]);
 * const frame = await ProxyReference.fromJSON<Uint8Array>(message, { stores }).resolve();
 * // frame.buffer is the pool's SharedArrayBuffer
 * releaseSharedMemory(frame);
 * ```
 */
export class SharedMemoryStore implements Store {
  /** Always `'shared'`. */
  readonly kind = 'shared';
  /** The pool's name. */
  readonly name: string;
  /** The pool holding this store's bytes. */
  readonly pool: SharedMemoryPool;
  /** How long a put waits for a free slot, in ms. */
  readonly fullTimeoutMs: number;
  #closed = false;

  /**
   * Opens a store on a pool (or a pool's handle, in a worker).
   * @throws {@link InvalidArgumentError} when `fullTimeoutMs` is negative or the handle is not a pool's.
   *
   * @example
   * ```ts
   * await using store = await SharedMemoryStore.create({ pool });
   * ```
   */
  static async create(options: SharedMemoryStoreOptions): Promise<SharedMemoryStore> {
    return new SharedMemoryStore(options);
  }

  private constructor(options: SharedMemoryStoreOptions) {
    const pool = options.pool;
    this.pool = pool instanceof SharedMemoryPool ? pool : SharedMemoryPool.fromHandle(pool);
    this.name = this.pool.name;
    this.fullTimeoutMs = nonNegative(
      options.fullTimeoutMs,
      'SharedMemoryStore: fullTimeoutMs',
      5_000,
    );
  }

  async put(data: Uint8Array): Promise<string> {
    this.#assertOpen();
    this.#assertFits(data);
    const address = await this.#claim(data.byteLength, performance.now() + this.fullTimeoutMs);
    this.pool.write(address, data);
    return this.pool.keyOf(address);
  }

  /**
   * Puts every object, or none: when one cannot be stored, the slots already taken are given
   * back. The whole batch shares one `fullTimeoutMs`.
   */
  async putBatch(data: readonly Uint8Array[]): Promise<string[]> {
    this.#assertOpen();
    for (const item of data) this.#assertFits(item);
    if (data.length > this.pool.slotCount) {
      throw new StoreFullError(
        `a batch of ${data.length} objects cannot fit in shared-memory pool "${this.name}" of ${this.pool.slotCount} slots; send smaller batches or give the pool more slots`,
        0,
      );
    }
    const deadline = performance.now() + this.fullTimeoutMs;
    const taken: SlotAddress[] = [];
    try {
      for (const item of data) {
        const address = await this.#claim(item.byteLength, deadline);
        this.pool.write(address, item);
        taken.push(address);
      }
    } catch (error) {
      // The keys were never handed out; evicting frees the slots for the next put.
      for (const address of taken) this.pool.evict(address);
      throw error;
    }
    return taken.map((address) => this.pool.keyOf(address));
  }

  /**
   * A view of the object's bytes in shared memory (no copy), or `undefined` when it was evicted.
   * The view holds the object's slot until it is released ({@link releaseSharedMemory}) or
   * collected; do not write to it.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    return this.pool.read(this.pool.addressOf(key));
  }

  async exists(key: string): Promise<boolean> {
    this.#assertOpen();
    return this.pool.has(this.pool.addressOf(key));
  }

  /** Evicts the object; its slot is reused once no view of it is held (see the class notes). */
  async evict(key: string): Promise<void> {
    this.#assertOpen();
    this.pool.evict(this.pool.addressOf(key));
  }

  config(): StoreConfig {
    return { kind: 'shared', name: this.name };
  }

  /**
   * Closes this handle: later calls and puts still waiting for a slot reject with `ClosedError`.
   * The pool's objects stay for other stores on it, and views already returned stay valid.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.pool.wakeWaiters();
  }

  /** Whether {@link close} was called on this handle. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as {@link close}; lets `await using` close the handle (the pool stays). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #claim(length: number, deadline: number): Promise<SlotAddress> {
    const started = performance.now();
    for (;;) {
      // Read the counter before looking: a slot freed after the look changes it, so the wait
      // below returns at once instead of missing the wake-up.
      const seen = this.pool.freedCount();
      const address = this.pool.claim(length);
      if (address !== undefined) return address;
      const left = deadline - performance.now();
      if (left <= 0) {
        const waited = Math.round(performance.now() - started);
        throw new StoreFullError(
          `shared-memory pool "${this.name}" had no free slot for ${length} bytes within ${waited} ms (fullTimeoutMs ${this.fullTimeoutMs}): consumers must resolve or evict objects and release their views; or give the pool more slots`,
          waited,
        );
      }
      await this.pool.waitFreed(seen, left);
      this.#assertOpen();
    }
  }

  #assertFits(data: Uint8Array): void {
    if (data.byteLength > this.pool.maxObjectBytes) {
      throw new ObjectTooLargeError(
        `shared-memory pool "${this.name}"`,
        data.byteLength,
        this.pool.maxObjectBytes,
      );
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`SharedMemoryStore "${this.name}"`);
  }
}
