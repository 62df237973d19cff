import { randomBytes } from 'node:crypto';
import {
  ClosedError,
  type PutOptions,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { assertStoreKey, newStoreKey } from './store-keys.js';

/** Data of every named memory store in this thread, so that a config reopens the same data. */
const spaces = new Map<string, Map<string, Uint8Array>>();

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Name of the shared space; stores with the same name in one thread see the same data. Default: a random name. */
  name?: string;
}

/**
 * A store that keeps bytes in memory. Instances with the same name in the same thread share their
 * data, so a {@link MemoryStoreFactory} reopens it from its config; another thread or process
 * cannot (use {@link FileStore} or a broker-backed store there).
 *
 * `put` copies the bytes, so the caller may reuse its buffer; `get` returns the stored bytes
 * without a copy, so do not mutate them.
 */
export class MemoryStore implements Store {
  /** Always `'memory'`. */
  readonly kind = 'memory';
  /** Name of the shared space. */
  readonly name: string;
  readonly #data: Map<string, Uint8Array>;
  #closed = false;

  /**
   * Opens the memory store of `options.name` (a new, randomly named one by default).
   *
   * @example
   * ```ts
   * await using store = await MemoryStore.create();
   * ```
   */
  static async create(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
    return new MemoryStore(options);
  }

  private constructor(options: MemoryStoreOptions) {
    this.name = options.name ?? `memory-${randomBytes(8).toString('hex')}`;
    let data = spaces.get(this.name);
    if (data === undefined) {
      data = new Map();
      spaces.set(this.name, data);
    }
    this.#data = data;
  }

  /** Number of objects held in this store's space. */
  get size(): number {
    return this.#data.size;
  }

  /** Stores a copy of `data`, or `data` itself when it is handed over with `{ owned: true }`. */
  async put(data: Uint8Array, options?: PutOptions): Promise<string> {
    this.#assertOpen();
    const key = newStoreKey();
    this.#data.set(key, options?.owned === true ? data : Uint8Array.prototype.slice.call(data));
    return key;
  }

  /** As {@link put}, for each of `data`. */
  async putBatch(data: readonly Uint8Array[], options?: PutOptions): Promise<string[]> {
    this.#assertOpen();
    const owned = options?.owned === true;
    const keys: string[] = new Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const key = newStoreKey();
      this.#data.set(key, owned ? data[i]! : Uint8Array.prototype.slice.call(data[i]!));
      keys[i] = key;
    }
    return keys;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertStoreKey(key);
    return this.#data.get(key);
  }

  async exists(key: string): Promise<boolean> {
    this.#assertOpen();
    assertStoreKey(key);
    return this.#data.has(key);
  }

  async evict(key: string): Promise<void> {
    this.#assertOpen();
    assertStoreKey(key);
    this.#data.delete(key);
  }

  config(): StoreConfig {
    return { kind: 'memory', name: this.name };
  }

  /** Closes this handle; the data stays for other handles of the same name until {@link MemoryStore.clear}. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Whether {@link close} was called on this handle. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as {@link close}; lets `await using` close the handle. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Deletes every object of this store's space (for every handle of the same name) and forgets the space. */
  clear(): void {
    this.#data.clear();
    spaces.delete(this.name);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`MemoryStore "${this.name}"`);
  }
}

/** Opens {@link MemoryStore}s from `{ kind: 'memory', name }` configs. */
export class MemoryStoreFactory implements StoreFactory {
  /** Always `'memory'`. */
  readonly kind = 'memory';

  async open(config: StoreConfig): Promise<Store> {
    if (config.kind !== 'memory' || typeof config.name !== 'string') {
      throw new StoreNotAllowedError(
        `MemoryStoreFactory cannot open a store of kind "${config.kind}"`,
      );
    }
    return MemoryStore.create({ name: config.name });
  }
}
