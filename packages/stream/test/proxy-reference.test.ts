import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  DecodeError,
  ObjectNotFoundError,
  type Serializer,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { FileStore, FileStoreFactory } from '../src/file-store.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { isProxyReference, ProxyReference } from '../src/proxy-reference.js';
import { StoreCache } from '../src/store-cache.js';
import { countingStore, within } from './helpers.js';
import { buildForWorkers } from './worker-build.js';

let root: string;
let build: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-references-'));
  build = await buildForWorkers();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(build, { recursive: true, force: true });
});

describe('ProxyReference', () => {
  it('resolve fetches and deserialises once, then answers from its cache', async () => {
    const store = countingStore(await MemoryStore.create());
    const key = await store.put(defaultSerializer.serialize({ hello: 'world' }));
    const reference = new ProxyReference<{ hello: string }>({ key, store });
    expect(reference.resolved).toBe(false);
    const [a, b] = await Promise.all([reference.resolve(), reference.resolve()]);
    expect(a).toEqual({ hello: 'world' });
    expect(b).toBe(a);
    expect(await reference.resolve()).toBe(a);
    expect(reference.resolved).toBe(true);
    expect(store.calls.get).toBe(1);
  });

  it('a one-shot reference deletes the data on first resolve; a copy then fails with ObjectNotFoundError', async () => {
    const store = await MemoryStore.create();
    const key = await store.put(defaultSerializer.serialize('once'));
    const reference = new ProxyReference<string>({ key, store, evict: true });
    const copy = ProxyReference.fromJSON<string>(JSON.parse(JSON.stringify(reference)), {
      stores: new StoreCache([new MemoryStoreFactory()]),
    });
    expect(await reference.resolve()).toBe('once');
    expect(await store.exists(key)).toBe(false);
    expect(await reference.resolve()).toBe('once');
    const error = await copy.resolve().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectNotFoundError);
    expect((error as ObjectNotFoundError).code).toBe('OBJECT_NOT_FOUND');
  });

  it('a reference without evict leaves the data for other resolvers', async () => {
    const store = await MemoryStore.create();
    const key = await store.put(defaultSerializer.serialize(42));
    expect(await new ProxyReference({ key, store }).resolve()).toBe(42);
    expect(await new ProxyReference({ key, store }).resolve()).toBe(42);
  });

  it('serialises to JSON and revives with the same key, store and evict flag', async () => {
    const store = await MemoryStore.create();
    const key = await store.put(defaultSerializer.serialize([1, 2]));
    const reference = new ProxyReference({ key, store, evict: true });
    const text = JSON.stringify(reference);
    expect(JSON.parse(text)).toEqual({
      type: 'proxystream.reference',
      version: 1,
      key,
      store: store.config(),
      evict: true,
    });
    const revived = ProxyReference.fromJSON(text, {
      stores: new StoreCache([new MemoryStoreFactory()]),
    });
    expect(isProxyReference(revived)).toBe(true);
    expect(revived.toJSON()).toEqual(reference.toJSON());
    expect(await revived.resolve()).toEqual([1, 2]);
  });

  it('uses the serializer it was given', async () => {
    const upper: Serializer<string> = {
      serialize: (value) => Buffer.from(value.toUpperCase()),
      deserialize: (data) => `<${Buffer.from(data).toString()}>`,
    };
    const store = await MemoryStore.create();
    const key = await store.put(upper.serialize('abc'));
    expect(await new ProxyReference({ key, store, serializer: upper }).resolve()).toBe('<ABC>');
  });

  it('fromJSON rejects what is not a reference with DecodeError', () => {
    const stores = new StoreCache();
    for (const json of ['not json', '{}', { type: 'proxystream.reference', version: 2 }, null, 5]) {
      expect(() => ProxyReference.fromJSON(json, { stores })).toThrow(DecodeError);
    }
  });

  it('a revived reference to a store kind without factory fails with StoreNotAllowedError', async () => {
    const store = await MemoryStore.create();
    const key = await store.put(Uint8Array.of(1));
    const revived = ProxyReference.fromJSON(new ProxyReference({ key, store }).toJSON(), {
      stores: new StoreCache([new FileStoreFactory({ allowedRoots: 'any' })]),
    });
    await expect(revived.resolve()).rejects.toBeInstanceOf(StoreNotAllowedError);
  });

  it('resolves in a worker_threads worker, which evicts one-shot data', async () => {
    const store = await FileStore.create({ directory: join(root, 'frames') });
    const frames = [randomBytes(300_000), randomBytes(1000)];
    const references = await Promise.all(
      frames.map(
        async (frame) => new ProxyReference({ key: await store.put(frame), store, evict: true }),
      ),
    );
    const script = join(build, 'resolve-worker.mjs');
    await writeFile(
      script,
      `import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { FileStoreFactory, ProxyReference, StoreCache } from './stream/index.js';
const stores = new StoreCache([new FileStoreFactory({ allowedRoots: [workerData.root] })]);
parentPort.on('message', async (json) => {
  try {
    const data = await ProxyReference.fromJSON(json, { stores }).resolve();
    parentPort.postMessage({ sha: createHash('sha256').update(data).digest('hex'), length: data.byteLength });
  } catch (error) {
    parentPort.postMessage({ error: error.code ?? String(error) });
  }
});
`,
    );
    const worker = new Worker(script, { workerData: { root } });
    try {
      const ask = (json: unknown) =>
        within(
          new Promise<{ sha?: string; length?: number; error?: string }>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.postMessage(json);
          }),
          20_000,
          'worker answer',
        );
      for (const [i, reference] of references.entries()) {
        const answer = await ask(reference.toJSON());
        expect(answer).toEqual({
          sha: createHash('sha256').update(frames[i]!).digest('hex'),
          length: frames[i]!.byteLength,
        });
        expect(await store.exists(reference.key)).toBe(false);
      }
      expect(await ask(references[0]!.toJSON())).toEqual({ error: 'OBJECT_NOT_FOUND' });
    } finally {
      await worker.terminate();
    }
  });
});
