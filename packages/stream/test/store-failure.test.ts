import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectNotFoundError, StoreError } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../src/file-store.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { isProxyReference, ProxyReference } from '../src/proxy-reference.js';
import { StoreCache } from '../src/store-cache.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { topicName, within } from './helpers.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-store-failure-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a file store whose directory was removed', () => {
  it('resolve() of a reference received before the removal fails with StoreError, not ObjectNotFoundError or a hang', async () => {
    const directory = join(root, 'removed-under-consumer');
    const broker = new InProcessBroker();
    const topic = topicName('store-failure');
    const consumer = new StreamConsumer<Uint8Array>(await broker.subscriber(topic), {
      topics: [topic],
      stores: [new FileStoreFactory({ allowedRoots: [root] })],
    });
    const producer = new StreamProducer<Uint8Array>(broker.publisher(), {
      defaultStore: await FileStore.create({ directory }),
    });
    for (const value of [1, 2, 3]) await producer.send(topic, Uint8Array.of(value));
    await producer.close({ topics: [topic] });

    const first = await within(consumer.next(), 10_000, 'first reference');
    expect(first.done).toBe(false);
    const reference = first.value as ProxyReference<Uint8Array>;
    expect(isProxyReference(reference)).toBe(true);
    await rm(directory, { recursive: true, force: true });

    const error = await within(
      reference.resolve().catch((e: unknown) => e),
      10_000,
      'resolve after the removal',
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(ObjectNotFoundError);
    expect((error as StoreError).code).toBe('STORE_FAILED');
    expect((error as StoreError).message).toContain(directory);
    // The store the consumer holds open answers the same for the objects still to come.
    for (let i = 0; i < 2; i++) {
      await expect(within(consumer.nextObject(), 10_000, 'next object')).rejects.toBeInstanceOf(
        StoreError,
      );
    }
    expect(await within(consumer.next(), 10_000, 'end of stream')).toEqual({
      done: true,
      value: undefined,
    });
    await consumer.close();
    await broker.close();
  });

  it('exists() fails with StoreError; evict() stays quiet, there is nothing left to delete', async () => {
    const directory = join(root, 'removed-under-store');
    const store = await FileStore.create({ directory });
    const key = await store.put(Uint8Array.of(1));
    await rm(directory, { recursive: true, force: true });
    await expect(store.exists(key)).rejects.toBeInstanceOf(StoreError);
    await expect(store.get(key)).rejects.toBeInstanceOf(StoreError);
    await expect(store.evict(key)).resolves.toBeUndefined();
  });

  it('a missing key in a directory that is still there is a miss: ObjectNotFoundError on resolve', async () => {
    const store = await FileStore.create({ directory: join(root, 'still-there') });
    const key = await store.put(Uint8Array.of(1));
    await store.evict(key);
    const error = await new ProxyReference({ key, store }).resolve().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectNotFoundError);
  });

  it('a reference revived in another consumer after the removal fails with StoreError when its store cannot be opened', async () => {
    const directory = join(root, 'removed-before-revival');
    const store = await FileStore.create({ directory });
    const key = await store.put(Uint8Array.of(7));
    const json = JSON.parse(JSON.stringify(new ProxyReference({ key, store })));
    await rm(directory, { recursive: true, force: true });
    const revived = ProxyReference.fromJSON(json, {
      stores: new StoreCache([new FileStoreFactory({ allowedRoots: [root] })]),
    });
    const error = await within(
      revived.resolve().catch((e: unknown) => e),
      10_000,
      'resolve of the revived reference',
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('STORE_FAILED');
  });
});
