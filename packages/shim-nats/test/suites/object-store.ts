import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import { StoreNotAllowedError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { NatsObjectStore, NatsObjectStoreFactory } from '../../src/index.js';
import { TEST_BUCKET } from '../../src/testing.js';
import { NATS_URL } from '../support.js';

export { TEST_BUCKET };

/** Opens the test bucket, creating it when missing (objects expire after 15 minutes). */
export function openTestStore(): Promise<NatsObjectStore> {
  return NatsObjectStore.create({
    connection: { servers: NATS_URL },
    bucket: TEST_BUCKET,
    create: { ttlMs: 15 * 60_000 },
  });
}

/** A factory allowed to open the test server. */
export function testFactory(): NatsObjectStoreFactory {
  return new NatsObjectStoreFactory({ allowedServers: [NATS_URL] });
}

/** The object store against the store contract, and the factory's refusals. */
export function objectStoreSuite(): void {
  const factory = testFactory();
  storeContract({
    name: 'NATS object store',
    createStore: openTestStore,
    openFromConfig: (config) => factory.open(config),
    largeValueBytes: 16 * 1024 * 1024,
  });
  longKeyMessageCase({ name: 'NATS object store', createStore: openTestStore });

  describe('NATS object store factory', () => {
    it('refuses a config naming a server it was not allowed to open', async () => {
      const store = await openTestStore();
      try {
        const config = { ...store.config(), servers: ['nats://10.1.2.3:4222'] };
        await expect(factory.open(config)).rejects.toBeInstanceOf(StoreNotAllowedError);
        const withUser = { ...store.config(), servers: ['nats://user:pass@127.0.0.1:4222'] };
        await expect(factory.open(withUser)).rejects.toBeInstanceOf(StoreNotAllowedError);
        await expect(factory.open({ ...store.config(), servers: [] })).rejects.toBeInstanceOf(
          StoreNotAllowedError,
        );
      } finally {
        await store.close();
      }
    });

    it('refuses another kind, an invalid bucket and a bucket outside allowedBuckets', async () => {
      const store = await openTestStore();
      try {
        const config = store.config();
        await expect(factory.open({ ...config, kind: 'file' })).rejects.toBeInstanceOf(
          StoreNotAllowedError,
        );
        await expect(factory.open({ ...config, bucket: '../x' })).rejects.toBeInstanceOf(
          StoreNotAllowedError,
        );
        const narrow = new NatsObjectStoreFactory({
          allowedServers: [NATS_URL],
          allowedBuckets: ['other'],
        });
        await expect(narrow.open(config)).rejects.toBeInstanceOf(StoreNotAllowedError);
      } finally {
        await store.close();
      }
    });

    it('config names the bucket and servers and holds no credentials', async () => {
      const store = await openTestStore();
      try {
        expect(store.config()).toEqual({
          kind: 'nats-object',
          name: TEST_BUCKET,
          bucket: TEST_BUCKET,
          servers: [NATS_URL],
        });
      } finally {
        await store.close();
      }
    });

    it('stores an object larger than max_payload in chunks', async () => {
      const store = await openTestStore();
      try {
        const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => i % 253);
        const key = await store.put(data);
        const got = await store.get(key);
        expect(got?.byteLength).toBe(data.byteLength);
        expect(Buffer.from(got!).equals(Buffer.from(data))).toBe(true);
        await store.evict(key);
      } finally {
        await store.close();
      }
    });
  });
}
