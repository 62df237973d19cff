import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ObjectNotFoundError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { FileStore, FileStoreFactory } from '../src/file-store.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { ProxyReference } from '../src/proxy-reference.js';
import { StoreCache } from '../src/store-cache.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-reference-factories-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * A factory that counts the stores it opened, how many were closed, and how many were closed
 * while a read was still running on them (each read takes a turn of the event loop).
 */
function countingFactory(
  inner: StoreFactory,
): StoreFactory & { opened: number; closed: number; closedDuringRead: number } {
  const factory = {
    kind: inner.kind,
    opened: 0,
    closed: 0,
    closedDuringRead: 0,
    async open(config: StoreConfig): Promise<Store> {
      const store = await inner.open(config);
      factory.opened++;
      let reading = 0;
      return new Proxy(store, {
        get(target, property) {
          if (property === 'close') {
            return async () => {
              factory.closed++;
              if (reading > 0) factory.closedDuringRead++;
              await target.close();
            };
          }
          if (property === 'get') {
            return async (key: string) => {
              reading++;
              try {
                await new Promise((resolve) => setImmediate(resolve));
                return await target.get(key);
              } finally {
                reading--;
              }
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
  return factory;
}

describe('ProxyReference.fromJSON with store factories', () => {
  it('revives a reference through factories, as StreamConsumer takes them in its stores option', async () => {
    const store = await FileStore.create({ directory: join(root, 'frames') });
    const key = await store.put(defaultSerializer.serialize(Uint8Array.of(7, 8, 9)));
    const json = JSON.stringify(new ProxyReference({ key, store }));
    const factory = new FileStoreFactory({ allowedRoots: [root] });
    const frame = await ProxyReference.fromJSON<Uint8Array>(json, { stores: [factory] }).resolve();
    expect(Array.from(frame)).toEqual([7, 8, 9]);
  });

  it('refuses a store kind none of the factories opens with StoreNotAllowedError', async () => {
    const store = await MemoryStore.create();
    const key = await store.put(defaultSerializer.serialize('x'));
    const json = new ProxyReference({ key, store }).toJSON();
    const reference = ProxyReference.fromJSON(json, {
      stores: [new FileStoreFactory({ allowedRoots: [root] })],
    });
    const error = await reference.resolve().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreNotAllowedError);
    expect((error as Error).message).toContain('"memory"');
    await expect(ProxyReference.fromJSON(json, { stores: [] }).resolve()).rejects.toBeInstanceOf(
      StoreNotAllowedError,
    );
  });

  it('closes the store it opened for a resolve, whether the resolve succeeds or fails, and a failed one can be retried', async () => {
    const store = await MemoryStore.create({ name: 'reference-factories-close' });
    const key = await store.put(defaultSerializer.serialize('kept'));
    const factory = countingFactory(new MemoryStoreFactory());

    const reference = ProxyReference.fromJSON<string>(new ProxyReference({ key, store }).toJSON(), {
      stores: [factory],
    });
    expect(await reference.resolve()).toBe('kept');
    expect(await reference.resolve()).toBe('kept');
    expect({ opened: factory.opened, closed: factory.closed }).toEqual({ opened: 1, closed: 1 });
    expect(factory.closedDuringRead).toBe(0);

    const missing = ProxyReference.fromJSON<string>(
      { ...new ProxyReference({ key, store }).toJSON(), key: '0'.repeat(32) },
      { stores: [factory] },
    );
    await expect(missing.resolve()).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(missing.resolve()).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect({ opened: factory.opened, closed: factory.closed }).toEqual({ opened: 3, closed: 3 });
  });

  it('still shares the stores of a StoreCache among references and leaves them open', async () => {
    const store = await MemoryStore.create({ name: 'reference-factories-cache' });
    const json = new ProxyReference({
      key: await store.put(defaultSerializer.serialize(1)),
      store,
    });
    const factory = countingFactory(new MemoryStoreFactory());
    const stores = new StoreCache([factory]);
    expect(await ProxyReference.fromJSON(json.toJSON(), { stores }).resolve()).toBe(1);
    expect(await ProxyReference.fromJSON(json.toJSON(), { stores }).resolve()).toBe(1);
    expect({ opened: factory.opened, closed: factory.closed }).toEqual({ opened: 1, closed: 0 });
    await stores.close();
    expect(factory.closed).toBe(1);
  });
});
