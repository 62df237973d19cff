import { AbortedError, type Store } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { MemoryStore } from '../src/memory-store.js';
import { ProxyReference } from '../src/proxy-reference.js';
import { deferred, isSettled } from './helpers.js';

/** `inner` whose `get` waits until `release` resolves; counts the gets. */
function slowStore(inner: Store, release: Promise<void>): Store & { gets: number } {
  const store = {
    gets: 0,
    kind: inner.kind,
    put: (data: Uint8Array) => inner.put(data),
    putBatch: (data: readonly Uint8Array[]) => inner.putBatch(data),
    get: async (key: string) => {
      store.gets++;
      await release;
      return inner.get(key);
    },
    exists: (key: string) => inner.exists(key),
    evict: (key: string) => inner.evict(key),
    config: () => inner.config(),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return store;
}

describe('ProxyReference.resolve with an AbortSignal', { timeout: 5_000 }, () => {
  it('an already aborted signal rejects with AbortedError without touching the store', async () => {
    const memory = await MemoryStore.create();
    const store = slowStore(memory, Promise.resolve());
    const key = await memory.put(defaultSerializer.serialize('frame'));
    const reference = new ProxyReference<string>({ key, store });
    await expect(reference.resolve({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(store.gets).toBe(0);
    expect(reference.resolved).toBe(false);
    memory.clear();
  });

  it('an abort during the store get rejects at once; the fetch goes on and is cached', async () => {
    const memory = await MemoryStore.create();
    const release = deferred();
    const store = slowStore(memory, release.promise);
    const key = await memory.put(defaultSerializer.serialize('frame'));
    const reference = new ProxyReference<string>({ key, store, evict: true });
    const controller = new AbortController();
    const resolving = reference.resolve({ signal: controller.signal });
    expect(await isSettled(resolving)).toBe(false);
    controller.abort();
    await expect(resolving).rejects.toBeInstanceOf(AbortedError);
    release.resolve();
    await expect(reference.resolve()).resolves.toBe('frame');
    expect(store.gets).toBe(1);
    expect(memory.size).toBe(0);
    memory.clear();
  });

  it('a signal that does not abort changes nothing', async () => {
    const memory = await MemoryStore.create();
    const key = await memory.put(defaultSerializer.serialize(42));
    const reference = new ProxyReference<number>({ key, store: memory });
    await expect(reference.resolve({ signal: new AbortController().signal })).resolves.toBe(42);
    memory.clear();
  });
});
