import type { StoreConfig } from './events.js';

/** Options of {@link Store.put} and {@link Store.putBatch}. */
export interface PutOptions {
  /**
   * The caller hands the data over: it will neither read nor write it again, so a store that
   * would copy it (one that keeps values in memory) keeps it instead. Default `false`: the caller
   * may reuse its buffer as soon as the promise settled.
   */
  readonly owned?: boolean;
}

/**
 * Holds the bulk bytes of objects; only keys travel through the broker.
 *
 * Keys are opaque strings produced by the store. A store must treat any key it is handed as
 * untrusted (it may come from the wire) and reject one it could not have produced with
 * {@link InvalidStoreKeyError}.
 */
export interface Store extends AsyncDisposable {
  /** Implementation kind, equal to `config().kind`. */
  readonly kind: string;
  /** Stores `data` and returns its new key. */
  put(data: Uint8Array, options?: PutOptions): Promise<string>;
  /** Stores several values at once (pipelined where the backend allows); keys in input order. */
  putBatch(data: readonly Uint8Array[], options?: PutOptions): Promise<string[]>;
  /** The bytes under `key`, or `undefined` when there are none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Whether `key` holds data. */
  exists(key: string): Promise<boolean>;
  /** Deletes the data under `key`; deleting a missing key is not an error. */
  evict(key: string): Promise<void>;
  /** A descriptor from which {@link StoreFactory.open} reopens this store elsewhere. */
  config(): StoreConfig;
  /** Releases connections or handles the store opened. Safe to call twice. */
  close(): Promise<void>;
}

/** Opens stores of one kind from configs received over the wire. */
export interface StoreFactory {
  /** The kind this factory opens. */
  readonly kind: string;
  /**
   * Opens the store described by `config`.
   * @throws {@link StoreNotAllowedError} when the config points somewhere this factory was not allowed to go.
   */
  open(config: StoreConfig): Promise<Store>;
}
