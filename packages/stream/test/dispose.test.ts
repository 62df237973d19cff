import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClosedError } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../src/file-store.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { SharedMemoryPool } from '../src/shared-memory-pool.js';
import { SharedMemoryStore } from '../src/shared-memory-store.js';
import { StoreCache } from '../src/store-cache.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-dispose-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('await using', () => {
  it('closes a FileStore made by FileStore.create at the end of the scope', async () => {
    let outside: FileStore | undefined;
    {
      await using store = await FileStore.create({ directory: join(root, 'files') });
      outside = store;
      await store.put(Uint8Array.of(1));
      expect(store.closed).toBe(false);
    }
    expect(outside.closed).toBe(true);
    await expect(outside.put(Uint8Array.of(2))).rejects.toBeInstanceOf(ClosedError);
  });

  it('closes a MemoryStore made by MemoryStore.create; another handle of the same name keeps the data', async () => {
    let outside: MemoryStore | undefined;
    let key = '';
    {
      await using store = await MemoryStore.create();
      outside = store;
      key = await store.put(Uint8Array.of(1));
    }
    expect(outside.closed).toBe(true);
    await expect(outside.get(key)).rejects.toBeInstanceOf(ClosedError);
    const other = await MemoryStore.create({ name: outside.name });
    expect(await other.exists(key)).toBe(true);
    other.clear();
  });

  it('closes a SharedMemoryStore made by SharedMemoryStore.create; its pool stays usable', async () => {
    const pool = new SharedMemoryPool({ slotBytes: 1024, slots: 2 });
    let outside: SharedMemoryStore | undefined;
    {
      await using store = await SharedMemoryStore.create({ pool });
      outside = store;
      await store.put(Uint8Array.of(1));
    }
    expect(outside.closed).toBe(true);
    await expect(outside.put(Uint8Array.of(2))).rejects.toBeInstanceOf(ClosedError);
    const again = await SharedMemoryStore.create({ pool });
    await expect(again.put(Uint8Array.of(3))).resolves.toEqual(expect.any(String));
    await again.close();
  });

  it('closes a StoreCache and the stores it opened', async () => {
    let outside: StoreCache | undefined;
    let opened: MemoryStore | undefined;
    {
      await using stores = await StoreCache.create([new MemoryStoreFactory()]);
      outside = stores;
      opened = (await stores.open({ kind: 'memory', name: 'dispose-cache' })) as MemoryStore;
    }
    expect(outside.closed).toBe(true);
    expect(opened.closed).toBe(true);
    await expect(outside.open({ kind: 'memory', name: 'x' })).rejects.toBeInstanceOf(ClosedError);
  });

  it('closes an InProcessBroker made by InProcessBroker.create, ending its subscriptions', async () => {
    let outside: InProcessBroker | undefined;
    let next: Promise<IteratorResult<Uint8Array>> | undefined;
    {
      await using broker = await InProcessBroker.create();
      outside = broker;
      const subscriber = await broker.subscriber('dispose-broker');
      next = subscriber[Symbol.asyncIterator]().next();
    }
    expect(outside.closed).toBe(true);
    expect(await next).toEqual({ done: true, value: undefined });
    await expect(
      outside.publisher().send('dispose-broker', Uint8Array.of(1)),
    ).rejects.toBeInstanceOf(ClosedError);
  });
});
