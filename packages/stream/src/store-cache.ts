import {
  ClosedError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';

/**
 * Opens stores from configs received over the wire, once per (kind, name), through the
 * factories it was given and no others. A consumer uses one internally; create one yourself to
 * revive references in a worker ({@link ProxyReference.fromJSON}) and share its open stores.
 *
 * @example
 * ```ts
 * const stores = new StoreCache([new FileStoreFactory({ allowedRoots: ['/data'] })]);
 * const frame = await ProxyReference.fromJSON(json, { stores }).resolve();
 * await stores.close();
 * ```
 */
export class StoreCache {
  readonly #factories = new Map<string, StoreFactory>();
  readonly #open = new Map<string, Promise<Store>>();
  #closed = false;

  /**
   * The same as the constructor, for symmetry with the stores: `await using stores = await
   * StoreCache.create(factories)` closes every store it opened at the end of the scope.
   */
  static async create(factories: readonly StoreFactory[] = []): Promise<StoreCache> {
    return new StoreCache(factories);
  }

  /** A cache that may open the kinds of `factories` (the constructor stays public: a consumer builds one synchronously). */
  constructor(factories: readonly StoreFactory[] = []) {
    for (const factory of factories) this.#factories.set(factory.kind, factory);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as {@link close}; lets `await using` close the cache and its stores. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Store kinds this cache may open. */
  get kinds(): string[] {
    return [...this.#factories.keys()];
  }

  /**
   * Registers an already open store so that configs naming it resolve to this instance (a
   * producer and consumer in one process then share one handle). It is closed by {@link close}.
   */
  add(store: Store): void {
    const config = store.config();
    this.#open.set(`${config.kind}\u0000${config.name}`, Promise.resolve(store));
  }

  /**
   * The store described by `config`, opened on first use.
   * @throws {@link StoreNotAllowedError} when no factory of `config.kind` was given, or the factory refuses the config.
   */
  open(config: StoreConfig): Promise<Store> {
    if (this.#closed) return Promise.reject(new ClosedError('StoreCache'));
    const id = `${config.kind}\u0000${config.name}`;
    const cached = this.#open.get(id);
    if (cached !== undefined) return cached;
    const factory = this.#factories.get(config.kind);
    if (factory === undefined) {
      return Promise.reject(
        new StoreNotAllowedError(
          `a message names a store of kind "${config.kind}", but this consumer was given factories for: ${
            this.kinds.join(', ') || 'none'
          }; pass a matching StoreFactory to open it`,
        ),
      );
    }
    const opening = factory.open(config);
    this.#open.set(id, opening);
    // A failed open is not cached: the next event naming the store tries again.
    opening.catch(() => {
      if (this.#open.get(id) === opening) this.#open.delete(id);
    });
    return opening;
  }

  /** Closes every store opened or added. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const opened = [...this.#open.values()];
    this.#open.clear();
    const stores = await Promise.allSettled(opened);
    await Promise.all(
      stores.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)),
    );
  }
}
