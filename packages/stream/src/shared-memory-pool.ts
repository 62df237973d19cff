import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, InvalidStoreKeyError } from '@proxystream/protocols';
import { positiveInteger } from '@proxystream/protocols/kit';

/** One size class of a {@link SharedMemoryPool}: `slots` slots of `slotBytes` bytes each. */
export interface SharedMemorySizeClass {
  /** Largest object a slot of this class holds, in bytes. */
  readonly slotBytes: number;
  /** Number of slots of this class. */
  readonly slots: number;
}

/** Options of {@link SharedMemoryPool}. */
export interface SharedMemoryPoolOptions {
  /**
   * Name that store configs carry (`{ kind: 'shared', name }`): a factory opens the pool given to
   * it under this name. Default: a random name.
   */
  name?: string;
  /** Bytes per slot when the pool has one size class. Default 4 MiB. Ignored with `sizeClasses`. */
  slotBytes?: number;
  /** Number of slots when the pool has one size class. Default 16. Ignored with `sizeClasses`. */
  slots?: number;
  /**
   * Several size classes instead of `slotBytes` × `slots`, e.g. many small slots and a few large
   * ones. An object goes to the smallest free slot it fits in.
   */
  sizeClasses?: readonly SharedMemorySizeClass[];
}

/**
 * What {@link SharedMemoryPool.handle} returns: the pool's shared memory and its layout, to pass
 * to `worker_threads` workers through `workerData` or `postMessage` (structured clone shares the
 * `SharedArrayBuffer`s instead of copying them). It is not JSON: it only works inside one process.
 */
export interface SharedMemoryPoolHandle {
  /** Always `'proxystream.shared-memory-pool'`. */
  readonly type: 'proxystream.shared-memory-pool';
  /** Version of this layout; currently 1. */
  readonly version: 1;
  /** The pool's name, as in its stores' configs. */
  readonly name: string;
  /** 16 hex characters drawn when the pool was made; every key of the pool starts with it. */
  readonly id: string;
  /** Size classes, smallest slots first. */
  readonly sizeClasses: readonly SharedMemorySizeClass[];
  /** Slot states, generations, lengths and reader counts, shared by every thread. */
  readonly header: SharedArrayBuffer;
  /** The bytes of each size class, in the order of `sizeClasses`. */
  readonly data: readonly SharedArrayBuffer[];
}

/** Counts of slots by state, from {@link SharedMemoryPool.usage}. */
export interface SharedMemoryPoolUsage {
  /** Every slot of the pool. */
  readonly slots: number;
  /** Slots a `put` may take. */
  readonly free: number;
  /** Slots a `put` is copying into. */
  readonly writing: number;
  /** Slots holding an object that `get` returns. */
  readonly stored: number;
  /** Evicted slots kept until every view `get` returned for them is released or collected. */
  readonly releasePending: number;
}

/** Location of an object in a pool, decoded from its key. Internal. */
export interface SlotAddress {
  readonly slot: number;
  readonly generation: number;
}

const FREE = 0;
const WRITING = 1;
const STORED = 2;
const RELEASE_PENDING = 3;

// Header: a few words for the pool, then four per slot. The state and generation of a slot share
// one word, so that one compareExchange checks both: a stale key can never act on a reused slot.
const FREED = 0; // bumped and notified whenever a slot becomes free; put waits on it
const SLOT_COUNT = 1;
const POOL_WORDS = 4;
const SLOT_WORDS = 4;
const TAG = 0; // generation << 2 | state
const READERS = 1; // pins: views handed out, plus lookups in progress
const LENGTH = 2;

/** Generations take 30 bits; they start at 1 and wrap back to 1. */
const MAX_GENERATION = 2 ** 30 - 1;
const MAX_SLOTS = 2 ** 24;
const KEY_PATTERN = /^([0-9a-f]{16})-(0|[1-9][0-9]{0,7})-([1-9][0-9]{0,9})$/;
const MAX_KEY_LENGTH = 16 + 1 + 8 + 1 + 10;

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
// In Node since 16, in TypeScript's lib from ES2024 only.
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

const tagOf = (generation: number, state: number): number => (generation << 2) | state | 0;
const stateOf = (tag: number): number => tag & 3;
const generationOf = (tag: number): number => tag >>> 2;

interface PoolMemory {
  readonly header: Int32Array;
  readonly views: readonly Uint8Array[];
}

/** One view handed out by `get`: while it is held, its slot is not reused. */
interface Pin {
  readonly memory: PoolMemory;
  readonly slot: number;
  released: boolean;
}

/** Views handed out in this thread, so that {@link releaseSharedMemory} finds their pin. */
const pins = new WeakMap<Uint8Array, Pin>();
/** Releases the pin of a view that was collected without {@link releaseSharedMemory}. */
const collected = new FinalizationRegistry<Pin>((pin) => unpin(pin));

function unpin(pin: Pin): void {
  if (pin.released) return;
  pin.released = true;
  release(pin.memory.header, pin.slot);
}

function release(header: Int32Array, slot: number): void {
  if (Atomics.sub(header, slotWord(slot, READERS), 1) === 1) tryFree(header, slot);
}

function slotWord(slot: number, word: number): number {
  return POOL_WORDS + slot * SLOT_WORDS + word;
}

/**
 * Frees an evicted slot once nobody reads it. The state is read before the reader count: a reader
 * pins (increments the count) before it checks the state, so one that saw the object stored is
 * counted here, and one that pins later sees the slot evicted and backs off without reading.
 */
function tryFree(header: Int32Array, slot: number): void {
  const tagIndex = slotWord(slot, TAG);
  const tag = Atomics.load(header, tagIndex);
  if (stateOf(tag) !== RELEASE_PENDING) return;
  if (Atomics.load(header, slotWord(slot, READERS)) !== 0) return;
  if (Atomics.compareExchange(header, tagIndex, tag, tagOf(generationOf(tag), FREE)) === tag) {
    signalFreed(header);
  }
}

function signalFreed(header: Int32Array): void {
  Atomics.add(header, FREED, 1);
  Atomics.notify(header, FREED);
}

/**
 * Releases a view that a {@link SharedMemoryStore}'s `get` returned (or a reference resolved to,
 * for a byte payload), at once instead of when the view is garbage-collected: an evicted object's
 * slot is reused only after every view of it is released or collected. After this call the view
 * must not be read any more — its slot may hold another object's bytes. Returns `false` when the
 * view was not handed out by a shared-memory store of this thread or was already released.
 *
 * @example
 * ```ts
 * const frame = await reference.resolve(); // a view into the pool, no copy
 * hash.update(frame);
 * releaseSharedMemory(frame); // the slot can take the next frame now
 * ```
 */
export function releaseSharedMemory(view: Uint8Array): boolean {
  const pin = pins.get(view);
  if (pin === undefined || pin.released) return false;
  pins.delete(view);
  collected.unregister(pin);
  unpin(pin);
  return true;
}

/** Checks size classes and sorts them, smallest slots first. */
function normaliseClasses(classes: readonly SharedMemorySizeClass[]): SharedMemorySizeClass[] {
  if (classes.length === 0) {
    throw new InvalidArgumentError('SharedMemoryPool: sizeClasses must not be empty');
  }
  const sorted = classes.map((c, i) => ({
    slotBytes: positiveInteger(c?.slotBytes, `SharedMemoryPool: sizeClasses[${i}].slotBytes`),
    slots: positiveInteger(c?.slots, `SharedMemoryPool: sizeClasses[${i}].slots`),
  }));
  sorted.sort((a, b) => a.slotBytes - b.slotBytes);
  const total = sorted.reduce((sum, c) => sum + c.slots, 0);
  if (total > MAX_SLOTS) {
    throw new InvalidArgumentError(`SharedMemoryPool: at most ${MAX_SLOTS} slots, got ${total}`);
  }
  return sorted;
}

/** Set by {@link SharedMemoryPool.fromHandle} for the constructor it calls, synchronously. */
let attaching: SharedMemoryPoolHandle | undefined;

/**
 * A fixed set of slots in `SharedArrayBuffer`s that every `worker_threads` thread of one process
 * can read without a copy: the memory behind {@link SharedMemoryStore}. Make it once, pass
 * {@link SharedMemoryPool.handle} to the workers (`workerData` or `postMessage`), and give the
 * handle to a {@link SharedMemoryStoreFactory} there. Worker processes cannot attach: the memory
 * is shared between the threads of one process only.
 *
 * Slots are coordinated with `Atomics` on a shared header (state, generation, length and reader
 * count per slot); no lock is held across an `await`. Each reuse of a slot draws a new
 * generation, which is part of the key, so a stale key reads as missing, never as the bytes of
 * the object now in the slot (generations wrap after 2^30 reuses of one slot).
 *
 * The pool is allocated up front; the operating system commits a page when it is first written,
 * and a put takes the lowest free slot that fits, so a pool larger than needed costs address space
 * more than memory.
 *
 * @example
 * ```ts
 * const pool = new SharedMemoryPool({ name: 'frames', slotBytes: 4 * 1024 * 1024, slots: 32 });
 * const worker = new Worker(url, { workerData: { pool: pool.handle() } });
 * const producer = new StreamProducer(publisher, { defaultStore: await SharedMemoryStore.create({ pool }) });
 * // in the worker:
 * const stores = new StoreCache([new SharedMemoryStoreFactory({ pools: [workerData.pool] })]);
 * ```
 */
export class SharedMemoryPool {
  /** Name that store configs carry. */
  readonly name: string;
  /** 16 hex characters that start every key of this pool. */
  readonly id: string;
  /** Size classes, smallest slots first. */
  readonly sizeClasses: readonly SharedMemorySizeClass[];
  /** Number of slots in all size classes. */
  readonly slotCount: number;
  /** Largest object the pool holds: the size of its largest slots. */
  readonly maxObjectBytes: number;
  readonly #headerBuffer: SharedArrayBuffer;
  readonly #dataBuffers: readonly SharedArrayBuffer[];
  readonly #memory: PoolMemory;
  /** Size class of each slot. */
  readonly #slotClass: Uint32Array;
  /** Byte offset of each slot in its class's buffer. */
  readonly #slotOffset: Float64Array;
  /** First slot of each size class, then one past the last slot. */
  readonly #classStart: number[];

  /**
   * Allocates a new pool.
   * @throws {@link InvalidArgumentError} when a size or count is not a positive integer.
   */
  constructor(options: SharedMemoryPoolOptions = {}) {
    const handle = attaching;
    attaching = undefined;
    if (handle !== undefined) {
      this.name = handle.name;
      this.id = handle.id;
      this.sizeClasses = handle.sizeClasses;
      this.#headerBuffer = handle.header;
      this.#dataBuffers = handle.data;
    } else {
      const name = options.name ?? `shared-${randomBytes(8).toString('hex')}`;
      if (typeof name !== 'string' || name.length === 0) {
        throw new InvalidArgumentError('SharedMemoryPool: name must be a non-empty string');
      }
      this.name = name;
      this.id = randomBytes(8).toString('hex');
      this.sizeClasses = normaliseClasses(
        options.sizeClasses ?? [
          { slotBytes: options.slotBytes ?? 4 * 1024 * 1024, slots: options.slots ?? 16 },
        ],
      );
      const slots = this.sizeClasses.reduce((sum, c) => sum + c.slots, 0);
      this.#headerBuffer = new SharedArrayBuffer((POOL_WORDS + slots * SLOT_WORDS) * 4);
      Atomics.store(new Int32Array(this.#headerBuffer), SLOT_COUNT, slots);
      this.#dataBuffers = this.sizeClasses.map((c) => new SharedArrayBuffer(c.slotBytes * c.slots));
    }
    Object.freeze(this.sizeClasses);
    this.slotCount = this.sizeClasses.reduce((sum, c) => sum + c.slots, 0);
    this.maxObjectBytes = this.sizeClasses[this.sizeClasses.length - 1]!.slotBytes;
    this.#memory = {
      header: new Int32Array(this.#headerBuffer),
      views: this.#dataBuffers.map((buffer) => new Uint8Array(buffer)),
    };
    this.#slotClass = new Uint32Array(this.slotCount);
    this.#slotOffset = new Float64Array(this.slotCount);
    this.#classStart = [0];
    let slot = 0;
    for (const [index, c] of this.sizeClasses.entries()) {
      for (let i = 0; i < c.slots; i++, slot++) {
        this.#slotClass[slot] = index;
        this.#slotOffset[slot] = i * c.slotBytes;
      }
      this.#classStart.push(slot);
    }
  }

  /**
   * Attaches to a pool made in another thread (or this one) from its {@link SharedMemoryPool.handle}.
   * The bytes are shared, not copied.
   * @throws {@link InvalidArgumentError} when `handle` is not a pool handle or its buffers do not match its layout.
   */
  static fromHandle(handle: SharedMemoryPoolHandle): SharedMemoryPool {
    attaching = checkHandle(handle);
    try {
      return new SharedMemoryPool();
    } finally {
      attaching = undefined;
    }
  }

  /**
   * The structured-clone-able descriptor of this pool, holding its `SharedArrayBuffer`s: pass it
   * to workers (`workerData`, `postMessage`) and to {@link SharedMemoryStoreFactory} there.
   */
  handle(): SharedMemoryPoolHandle {
    return {
      type: 'proxystream.shared-memory-pool',
      version: 1,
      name: this.name,
      id: this.id,
      sizeClasses: this.sizeClasses.map((c) => ({ slotBytes: c.slotBytes, slots: c.slots })),
      header: this.#headerBuffer,
      data: [...this.#dataBuffers],
    };
  }

  /** Counts of slots by state, across every thread (a snapshot: other threads may change them meanwhile). */
  usage(): SharedMemoryPoolUsage {
    const counts = [0, 0, 0, 0];
    const header = this.#memory.header;
    for (let slot = 0; slot < this.slotCount; slot++) {
      counts[stateOf(Atomics.load(header, slotWord(slot, TAG)))]!++;
    }
    return {
      slots: this.slotCount,
      free: counts[FREE]!,
      writing: counts[WRITING]!,
      stored: counts[STORED]!,
      releasePending: counts[RELEASE_PENDING]!,
    };
  }

  /** Value of the counter bumped whenever a slot becomes free; wait on it with {@link waitFreed}. @internal */
  freedCount(): number {
    return Atomics.load(this.#memory.header, FREED);
  }

  /**
   * Resolves when a slot was freed since `freedCount()` returned `seen`, or after `ms`. Keeps the
   * thread's event loop alive meanwhile (`Atomics.waitAsync` alone does not). @internal
   */
  waitFreed(seen: number, ms: number): Promise<void> {
    const header = this.#memory.header;
    return new Promise<void>((resolve) => {
      if (waitAsync === undefined) {
        setTimeout(resolve, Math.min(ms, 5));
        return;
      }
      const timer = setTimeout(resolve, ms);
      const waited = waitAsync(header, FREED, seen, ms);
      if (!waited.async) {
        clearTimeout(timer);
        resolve();
        return;
      }
      void waited.value.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Wakes every thread waiting in {@link waitFreed}, e.g. so that a closed store stops waiting. @internal */
  wakeWaiters(): void {
    Atomics.notify(this.#memory.header, FREED);
  }

  /**
   * Takes the lowest free slot of the smallest size class that holds `length` bytes, marks it
   * being written under a new generation, and returns its address; `undefined` when every slot
   * that fits is taken. @internal
   */
  claim(length: number): SlotAddress | undefined {
    const header = this.#memory.header;
    for (let c = 0; c < this.sizeClasses.length; c++) {
      if (this.sizeClasses[c]!.slotBytes < length) continue;
      const end = this.#classStart[c + 1]!;
      for (let slot = this.#classStart[c]!; slot < end; slot++) {
        const index = slotWord(slot, TAG);
        const tag = Atomics.load(header, index);
        if (stateOf(tag) !== FREE) continue;
        const previous = generationOf(tag);
        const generation = previous >= MAX_GENERATION ? 1 : previous + 1;
        if (Atomics.compareExchange(header, index, tag, tagOf(generation, WRITING)) === tag) {
          return { slot, generation };
        }
      }
    }
    return undefined;
  }

  /** Copies `data` into a slot returned by {@link claim} and makes it readable. @internal */
  write(address: SlotAddress, data: Uint8Array): void {
    const { slot, generation } = address;
    const view = this.#memory.views[this.#slotClass[slot]!]!;
    view.set(data, this.#slotOffset[slot]!);
    const header = this.#memory.header;
    Atomics.store(header, slotWord(slot, LENGTH), data.byteLength);
    // The store of the state publishes the bytes and the length to every thread that loads it.
    Atomics.store(header, slotWord(slot, TAG), tagOf(generation, STORED));
  }

  /** Gives back a slot returned by {@link claim} that was not written. @internal */
  abandon(address: SlotAddress): void {
    const header = this.#memory.header;
    const index = slotWord(address.slot, TAG);
    const writing = tagOf(address.generation, WRITING);
    if (
      Atomics.compareExchange(header, index, writing, tagOf(address.generation, FREE)) === writing
    ) {
      signalFreed(header);
    }
  }

  /**
   * A view of the object at `address`, pinned until it is released or collected; `undefined`
   * when the slot holds no object of that generation. @internal
   */
  read(address: SlotAddress): Uint8Array | undefined {
    const { slot, generation } = address;
    const header = this.#memory.header;
    // Pin first, then check: an evict that runs meanwhile sees the pin and leaves the slot alone.
    Atomics.add(header, slotWord(slot, READERS), 1);
    if (Atomics.load(header, slotWord(slot, TAG)) !== tagOf(generation, STORED)) {
      release(header, slot);
      return undefined;
    }
    const length = Atomics.load(header, slotWord(slot, LENGTH));
    const view = new Uint8Array(
      this.#dataBuffers[this.#slotClass[slot]!]!,
      this.#slotOffset[slot]!,
      length,
    );
    const pin: Pin = { memory: this.#memory, slot, released: false };
    pins.set(view, pin);
    collected.register(view, pin, pin);
    return view;
  }

  /** Whether the slot holds the object of that generation. @internal */
  has(address: SlotAddress): boolean {
    const tag = Atomics.load(this.#memory.header, slotWord(address.slot, TAG));
    return tag === tagOf(address.generation, STORED);
  }

  /**
   * Evicts the object at `address` if it is still there: the slot is freed now when no view of it
   * is held, else when the last one is released or collected. @internal
   */
  evict(address: SlotAddress): void {
    const header = this.#memory.header;
    const stored = tagOf(address.generation, STORED);
    const pending = tagOf(address.generation, RELEASE_PENDING);
    if (Atomics.compareExchange(header, slotWord(address.slot, TAG), stored, pending) === stored) {
      tryFree(header, address.slot);
    }
  }

  /** The key of the object at `address`. @internal */
  keyOf(address: SlotAddress): string {
    return `${this.id}-${address.slot}-${address.generation}`;
  }

  /**
   * Decodes a key from the wire.
   * @throws {@link InvalidStoreKeyError} unless this pool could have produced `key`: another
   * pool's key, an out-of-range slot or generation, or anything not in the key's canonical form.
   * @internal
   */
  addressOf(key: unknown): SlotAddress {
    const text = String(key);
    const match =
      typeof key === 'string' && key.length <= MAX_KEY_LENGTH ? KEY_PATTERN.exec(key) : null;
    if (match === null) {
      throw new InvalidStoreKeyError(
        text,
        'keys of a shared-memory store are "<pool id>-<slot>-<generation>"',
      );
    }
    if (match[1] !== this.id) {
      throw new InvalidStoreKeyError(text, `not a key of shared-memory pool "${this.name}"`);
    }
    const slot = Number(match[2]);
    const generation = Number(match[3]);
    if (slot >= this.slotCount) {
      throw new InvalidStoreKeyError(
        text,
        `slot ${slot} is out of range: pool "${this.name}" has ${this.slotCount} slots`,
      );
    }
    if (generation > MAX_GENERATION) {
      throw new InvalidStoreKeyError(text, `generation ${generation} is out of range`);
    }
    return { slot, generation };
  }
}

/** Checks a handle that came through `workerData` or `postMessage`. */
function checkHandle(handle: SharedMemoryPoolHandle): SharedMemoryPoolHandle {
  const invalid = (why: string) =>
    new InvalidArgumentError(`not a SharedMemoryPool handle (${why}); pass pool.handle()`);
  if (typeof handle !== 'object' || handle === null) throw invalid('not an object');
  if (handle.type !== 'proxystream.shared-memory-pool' || handle.version !== 1) {
    throw invalid('wrong type or version');
  }
  if (typeof handle.name !== 'string' || handle.name.length === 0) throw invalid('name');
  if (typeof handle.id !== 'string' || !/^[0-9a-f]{16}$/.test(handle.id)) throw invalid('id');
  if (!Array.isArray(handle.sizeClasses) || !Array.isArray(handle.data)) {
    throw invalid('size classes or data');
  }
  const sizeClasses = normaliseClasses(handle.sizeClasses);
  // The data buffers follow the order of the classes, which a pool writes sorted.
  if (sizeClasses.some((c, i) => c.slotBytes !== handle.sizeClasses[i]!.slotBytes)) {
    throw invalid('size classes are not sorted by slot size');
  }
  const slots = sizeClasses.reduce((sum, c) => sum + c.slots, 0);
  const { header, data } = handle;
  if (
    !(header instanceof SharedArrayBuffer) ||
    header.byteLength !== (POOL_WORDS + slots * SLOT_WORDS) * 4 ||
    Atomics.load(new Int32Array(header), SLOT_COUNT) !== slots
  ) {
    throw invalid('header does not match the size classes');
  }
  if (
    data.length !== sizeClasses.length ||
    data.some(
      (buffer, i) =>
        !(buffer instanceof SharedArrayBuffer) ||
        buffer.byteLength !== sizeClasses[i]!.slotBytes * sizeClasses[i]!.slots,
    )
  ) {
    throw invalid('data buffers do not match the size classes');
  }
  return { ...handle, sizeClasses, data: [...data] };
}
