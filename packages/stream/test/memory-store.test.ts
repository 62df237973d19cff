import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import { ClosedError, InvalidStoreKeyError, StoreNotAllowedError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';

const factory = new MemoryStoreFactory();

storeContract({
  name: 'MemoryStore',
  createStore: async () => await MemoryStore.create(),
  openFromConfig: (config) => factory.open(config),
});

longKeyMessageCase({ name: 'MemoryStore', createStore: async () => await MemoryStore.create() });

describe('MemoryStore', () => {
  it('copies on put, so the caller may reuse its buffer', async () => {
    const store = await MemoryStore.create();
    const data = Uint8Array.of(1, 2, 3);
    const key = await store.put(data);
    data[0] = 99;
    expect(Array.from((await store.get(key))!)).toEqual([1, 2, 3]);
    store.clear();
  });

  it('shares data between handles of the same name until clear()', async () => {
    const name = `shared-${Math.random()}`;
    const a = await MemoryStore.create({ name });
    const b = await MemoryStore.create({ name });
    const key = await a.put(Uint8Array.of(5));
    expect(await b.exists(key)).toBe(true);
    expect(b.size).toBe(1);
    a.clear();
    expect(await b.exists(key)).toBe(false);
    expect(await (await MemoryStore.create({ name })).exists(key)).toBe(false);
  });

  it('rejects keys it could not have made', async () => {
    const store = await MemoryStore.create();
    await expect(store.get('__proto__')).rejects.toBeInstanceOf(InvalidStoreKeyError);
    await expect(store.evict('constructor')).rejects.toBeInstanceOf(InvalidStoreKeyError);
  });

  it('refuses operations after close with ClosedError', async () => {
    const store = await MemoryStore.create();
    await store.close();
    await expect(store.put(Uint8Array.of(1))).rejects.toBeInstanceOf(ClosedError);
  });

  it('the factory refuses a config of another kind', async () => {
    await expect(
      factory.open({ kind: 'file', name: 'x', directory: '/tmp' }),
    ).rejects.toBeInstanceOf(StoreNotAllowedError);
  });
});
