import {
  InvalidArgumentError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { SharedMemoryPool, type SharedMemoryPoolHandle } from './shared-memory-pool.js';
import { SharedMemoryStore } from './shared-memory-store.js';

/** Options of {@link SharedMemoryStoreFactory}. */
export interface SharedMemoryStoreFactoryOptions {
  /** The pools this factory may open, as pools or their handles (from `workerData`, say). */
  pools: readonly (SharedMemoryPool | SharedMemoryPoolHandle)[];
  /** `fullTimeoutMs` of the stores it opens. Default 5 000 (see {@link SharedMemoryStore}). */
  fullTimeoutMs?: number;
}

/**
 * Opens {@link SharedMemoryStore}s from `{ kind: 'shared', name }` configs, for the pools it was
 * given only: a config naming any other pool, or of another kind, is refused with
 * `StoreNotAllowedError`. Give it the handles a worker received in `workerData`.
 *
 * @example
 * ```ts
 * const stores = new StoreCache([new SharedMemoryStoreFactory({ pools: [workerData.pool] })]);
 * ```
 */
export class SharedMemoryStoreFactory implements StoreFactory {
  /** Always `'shared'`. */
  readonly kind = 'shared';
  readonly #pools = new Map<string, SharedMemoryPool>();
  readonly #fullTimeoutMs: number | undefined;

  /** @throws {@link InvalidArgumentError} when two pools share a name or a handle is not a pool's. */
  constructor(options: SharedMemoryStoreFactoryOptions) {
    for (const given of options.pools) {
      const pool = given instanceof SharedMemoryPool ? given : SharedMemoryPool.fromHandle(given);
      const known = this.#pools.get(pool.name);
      if (known !== undefined && known.id !== pool.id) {
        throw new InvalidArgumentError(
          `SharedMemoryStoreFactory: two pools are named "${pool.name}"; a config could not tell them apart`,
        );
      }
      this.#pools.set(pool.name, pool);
    }
    this.#fullTimeoutMs = options.fullTimeoutMs;
  }

  async open(config: StoreConfig): Promise<Store> {
    if (config.kind !== 'shared' || typeof config.name !== 'string') {
      throw new StoreNotAllowedError(
        `SharedMemoryStoreFactory cannot open a store of kind "${config.kind}"`,
      );
    }
    const pool = this.#pools.get(config.name);
    if (pool === undefined) {
      throw new StoreNotAllowedError(
        `no shared-memory pool named ${JSON.stringify(config.name.slice(0, 64))} was given to this SharedMemoryStoreFactory; pass its handle in \`pools\``,
      );
    }
    return SharedMemoryStore.create({ pool, fullTimeoutMs: this.#fullTimeoutMs });
  }
}
