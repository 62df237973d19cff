import {
  ObjectNotFoundError,
  type Store,
  StoreError,
  type StoreFactory,
} from '@proxystream/protocols';
import { expect, it } from 'vitest';
import { within } from './helpers.js';

/**
 * The reference classes of `@proxystream/stream` the case needs (pass the module namespace:
 * `import * as stream from '@proxystream/stream'`); this package does not depend on it.
 */
export interface ReferenceClasses<Cache> {
  /** `ProxyReference`: built from a key and an open store, revived from its JSON form. */
  ProxyReference: {
    new (options: { key: string; store: Store }): object;
    fromJSON(json: unknown, options: { stores: Cache }): { resolve(): Promise<unknown> };
  };
  /** `StoreCache`: opens the stores that revived references name, with the factories given. */
  StoreCache: new (
    factories: readonly StoreFactory[],
  ) => Cache & { close(): Promise<void> };
}

/** Options of {@link storeServerGoneCase}. */
export interface StoreServerGoneCaseOptions<Cache> {
  /** `@proxystream/stream`, or anything with its `ProxyReference` and `StoreCache`. */
  stream: ReferenceClasses<Cache>;
  /** Opens the store on a server of the test file's own, which {@link stopServer} kills. */
  openStore(): Promise<Store>;
  /** The factory a consumer uses to open the store from a reference's JSON. */
  factory(): StoreFactory;
  /** Kills the store's server (SIGKILL: no goodbye on the connections) and resolves once it is gone. */
  stopServer(): Promise<void>;
  /** Longest wait for the failures, in ms. Default 60 000. */
  timeoutMs?: number;
}

/**
 * Registers one test: with the store's server gone, `resolve()` of a reference revived before
 * (whose consumer side already holds a connection) and every store operation (`get`, `exists`,
 * `put`, `evict`) fail within a bounded time with `StoreError` (code `STORE_FAILED`, the client's
 * error as `cause`), never with `ObjectNotFoundError` and never by hanging. Call it at the top
 * level (or in a `describe`) of a store's test file; the server must be one the file started.
 */
export function storeServerGoneCase<Cache>(options: StoreServerGoneCaseOptions<Cache>): void {
  it('resolve() and every store operation fail with StoreError within a bounded time, not a hang', async () => {
    const { ProxyReference, StoreCache } = options.stream;
    const store = await options.openStore();
    const key = await store.put(Uint8Array.of(1, 2, 3));
    const json = JSON.parse(JSON.stringify(new ProxyReference({ key, store })));
    const stores = new StoreCache([options.factory()]);
    // Opened before the server goes: the consumer side holds a connection that then breaks.
    const revived = ProxyReference.fromJSON(json, { stores });
    const other = ProxyReference.fromJSON(json, { stores });
    expect([...((await other.resolve()) as Uint8Array)]).toEqual([1, 2, 3]);

    await options.stopServer();

    const outcomes = await within(
      Promise.all([
        revived.resolve().catch((e: unknown) => e),
        store.get(key).catch((e: unknown) => e),
        store.exists(key).catch((e: unknown) => e),
        store.put(Uint8Array.of(4)).catch((e: unknown) => e),
        store.evict(key).catch((e: unknown) => e),
      ]),
      options.timeoutMs ?? 60_000,
      'store operations with the server gone',
    );
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(StoreError);
      expect(outcome).not.toBeInstanceOf(ObjectNotFoundError);
      expect((outcome as StoreError).code).toBe('STORE_FAILED');
      expect((outcome as StoreError).cause).toBeInstanceOf(Error);
    }
    await within(Promise.all([store.close(), stores.close()]), 30_000, 'closing the stores');
  });
}
