import { createHash, randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import {
  ClosedError,
  InvalidArgumentError,
  InvalidStoreKeyError,
  ObjectTooLargeError,
  type StoreConfig,
  StoreFullError,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyReference } from '../src/proxy-reference.js';
import { releaseSharedMemory, SharedMemoryPool } from '../src/shared-memory-pool.js';
import { SharedMemoryStore } from '../src/shared-memory-store.js';
import { SharedMemoryStoreFactory } from '../src/shared-memory-store-factory.js';
import { within } from './helpers.js';
import { buildForWorkers } from './worker-build.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// Every pool the contract made, so that a config of any of them reopens it.
const contractPools: SharedMemoryPool[] = [];
storeContract({
  name: 'SharedMemoryStore',
  createStore: async () => {
    const pool = new SharedMemoryPool({
      sizeClasses: [
        { slotBytes: 4 * KiB, slots: 64 },
        { slotBytes: 16 * MiB, slots: 2 },
      ],
    });
    contractPools.push(pool);
    return await SharedMemoryStore.create({ pool });
  },
  openFromConfig: (config) =>
    new SharedMemoryStoreFactory({ pools: contractPools.map((pool) => pool.handle()) }).open(
      config,
    ),
});

longKeyMessageCase({
  name: 'SharedMemoryStore',
  createStore: async () =>
    await SharedMemoryStore.create({ pool: new SharedMemoryPool({ slotBytes: 64 }) }),
});

const smallPool = (slots: number, slotBytes = 1 * KiB) =>
  new SharedMemoryPool({ slotBytes, slots });

const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

let build: string;

beforeAll(async () => {
  build = await buildForWorkers();
});

afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

describe('SharedMemoryStore', () => {
  it('a worker thread resolves a reference from the main thread to a view of the same shared memory, without a copy', async () => {
    const pool = new SharedMemoryPool({
      name: `frames-${Math.random()}`,
      slotBytes: MiB,
      slots: 4,
    });
    const store = await SharedMemoryStore.create({ pool });
    const frame = randomBytes(MiB - 17);
    const key = await store.put(frame);
    const mine = (await store.get(key))!;
    expect(mine.buffer).toBeInstanceOf(SharedArrayBuffer);
    const script = join(build, 'shared-resolve-worker.mjs');
    await writeFile(
      script,
      `import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { ProxyReference, releaseSharedMemory, SharedMemoryStoreFactory, StoreCache } from './stream/index.js';
const stores = new StoreCache([new SharedMemoryStoreFactory({ pools: [workerData.pool] })]);
parentPort.on('message', async ({ reference, poke }) => {
  try {
    const data = await ProxyReference.fromJSON(reference, { stores }).resolve();
    const answer = {
      sha: createHash('sha256').update(data).digest('hex'),
      length: data.byteLength,
      byteOffset: data.byteOffset,
      shared: data.buffer instanceof SharedArrayBuffer,
      poolBuffer: workerData.pool.data.indexOf(data.buffer),
    };
    // Writing through the view (a thing users must not do) shows it is the producer's memory.
    if (poke) data[0] = data[0] ^ 0xff;
    answer.released = releaseSharedMemory(data);
    parentPort.postMessage(answer);
  } catch (error) {
    parentPort.postMessage({ error: error.code ?? String(error) });
  }
});
`,
    );
    const worker = new Worker(script, { workerData: { pool: pool.handle() } });
    try {
      const ask = (message: unknown) =>
        within(
          new Promise<Record<string, unknown>>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.postMessage(message);
          }),
          20_000,
          'worker answer',
        );
      const keep = new ProxyReference({ key, store, evict: false });
      const before = mine[0]!;
      expect(await ask({ reference: keep.toJSON(), poke: true })).toEqual({
        sha: createHash('sha256').update(frame).digest('hex'),
        length: frame.byteLength,
        byteOffset: mine.byteOffset,
        shared: true,
        poolBuffer: 0,
        released: true,
      });
      // The worker's write is in the main thread's view: one memory, no copy between them.
      expect(mine[0]).toBe(before ^ 0xff);
      mine[0] = before;

      const oneShot = new ProxyReference({ key, store, evict: true });
      const answer = await ask({ reference: oneShot.toJSON() });
      expect(answer.sha).toBe(createHash('sha256').update(frame).digest('hex'));
      expect(await store.exists(key)).toBe(false);
      // The main thread still holds its view, so the slot waits for it; then it is free.
      expect(pool.usage()).toMatchObject({ stored: 0, releasePending: 1 });
      expect(releaseSharedMemory(mine)).toBe(true);
      expect(pool.usage()).toMatchObject({ free: 4, releasePending: 0 });
      expect(await ask({ reference: oneShot.toJSON() })).toEqual({ error: 'OBJECT_NOT_FOUND' });
    } finally {
      await worker.terminate();
    }
  });

  it('threads racing on a small pool never see bytes change under a held view or under a stale key', async () => {
    const pool = new SharedMemoryPool({ slotBytes: 256, slots: 3 });
    const script = join(build, 'shared-race-worker.mjs');
    await writeFile(
      script,
      `import { parentPort, workerData } from 'node:worker_threads';
import { releaseSharedMemory, SharedMemoryStore } from './stream/index.js';
const store = await SharedMemoryStore.create({ pool: workerData.pool, fullTimeoutMs: 20000 });
const problems = [];
let held;
for (let i = 0; i < workerData.rounds; i++) {
  const byte = (workerData.id * 101 + i) & 0xff;
  const key = await store.put(new Uint8Array(200).fill(byte));
  const view = await store.get(key);
  if (view === undefined) problems.push('own object missing');
  await store.evict(key);
  // The previous round's view outlived its evict and other threads' puts: it must be unchanged.
  if (held !== undefined) {
    if (!held.view.every((b) => b === held.byte)) problems.push('a held view changed');
    if ((await store.get(held.key)) !== undefined) problems.push('a stale key read bytes');
    releaseSharedMemory(held.view);
  }
  held = { view, byte, key };
}
releaseSharedMemory(held.view);
parentPort.postMessage(problems.slice(0, 5));
`,
    );
    const workers = [0, 1].map(
      (id) => new Worker(script, { workerData: { pool: pool.handle(), id, rounds: 3000 } }),
    );
    try {
      const answers = await within(
        Promise.all(
          workers.map(
            (worker) =>
              new Promise<string[]>((resolve, reject) => {
                worker.once('message', resolve);
                worker.once('error', reject);
              }),
          ),
        ),
        60_000,
        'racing workers',
      );
      expect(answers).toEqual([[], []]);
      expect(pool.usage()).toMatchObject({ free: 3 });
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });

  it('a stale key reads as missing after its slot was reused, and cannot evict the new object', async () => {
    const store = await SharedMemoryStore.create({ pool: smallPool(1) });
    const first = await store.put(Uint8Array.of(1, 1, 1));
    await store.evict(first);
    const second = await store.put(Uint8Array.of(2, 2));
    expect(second.split('-')[1]).toBe(first.split('-')[1]);
    expect(second).not.toBe(first);
    expect(await store.get(first)).toBeUndefined();
    expect(await store.exists(first)).toBe(false);
    await store.evict(first);
    expect(Array.from((await store.get(second))!)).toEqual([2, 2]);
  });

  it('put waits for a slot while the pool is full and goes on when one is evicted', async () => {
    const store = await SharedMemoryStore.create({ pool: smallPool(2), fullTimeoutMs: 10_000 });
    const [a] = await store.putBatch([Uint8Array.of(1), Uint8Array.of(2)]);
    let done = false;
    const third = store.put(Uint8Array.of(3)).finally(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    await store.evict(a!);
    const key = await within(third, 5_000, 'the waiting put');
    expect(Array.from((await store.get(key))!)).toEqual([3]);
  });

  it('a full pool rejects put with StoreFullError after fullTimeoutMs', async () => {
    const store = await SharedMemoryStore.create({ pool: smallPool(2), fullTimeoutMs: 150 });
    await store.putBatch([Uint8Array.of(1), Uint8Array.of(2)]);
    const started = performance.now();
    const error = await store.put(Uint8Array.of(3)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreFullError);
    expect((error as StoreFullError).code).toBe('STORE_FULL');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect((error as StoreFullError).waitedMs).toBeGreaterThanOrEqual(140);
  });

  it('a putBatch that cannot be stored gives back the slots it took', async () => {
    const pool = smallPool(3);
    const store = await SharedMemoryStore.create({ pool, fullTimeoutMs: 50 });
    await store.put(Uint8Array.of(0));
    const three = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)];
    await expect(store.putBatch(three)).rejects.toBeInstanceOf(StoreFullError);
    expect(pool.usage()).toMatchObject({ free: 2, stored: 1, writing: 0 });
    // More objects than slots can never fit: refused at once, without waiting.
    const slow = await SharedMemoryStore.create({ pool, fullTimeoutMs: 60_000 });
    const error = await slow.putBatch([...three, ...three]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreFullError);
    expect((error as StoreFullError).waitedMs).toBe(0);
  });

  it('an object larger than the largest slot is refused at once with ObjectTooLargeError', async () => {
    const store = await SharedMemoryStore.create({
      pool: new SharedMemoryPool({
        sizeClasses: [
          { slotBytes: 64, slots: 2 },
          { slotBytes: 256, slots: 1 },
        ],
      }),
      fullTimeoutMs: 60_000,
    });
    const error = await store.put(new Uint8Array(257)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect(error).toMatchObject({ code: 'OBJECT_TOO_LARGE', size: 257, limit: 256 });
    await expect(store.putBatch([new Uint8Array(1), new Uint8Array(300)])).rejects.toBeInstanceOf(
      ObjectTooLargeError,
    );
    expect(store.pool.usage().free).toBe(3);
  });

  it('puts an object in the smallest free slot it fits, and in a larger one when those are taken', async () => {
    const pool = new SharedMemoryPool({
      sizeClasses: [
        { slotBytes: 1 * MiB, slots: 1 },
        { slotBytes: 64, slots: 1 },
      ],
    });
    const store = await SharedMemoryStore.create({ pool, fullTimeoutMs: 0 });
    expect(pool.sizeClasses.map((c) => c.slotBytes)).toEqual([64, MiB]);
    const small = await store.put(new Uint8Array(10));
    expect(small.split('-')[1]).toBe('0');
    const next = await store.put(new Uint8Array(10));
    expect(next.split('-')[1]).toBe('1');
    await expect(store.put(new Uint8Array(10))).rejects.toBeInstanceOf(StoreFullError);
  });

  it('evicting an object while a view of it is held keeps the view intact until it is released', async () => {
    const pool = smallPool(1);
    const store = await SharedMemoryStore.create({ pool, fullTimeoutMs: 100 });
    const key = await store.put(Uint8Array.of(7, 8, 9));
    const view = (await store.get(key))!;
    await store.evict(key);
    expect(await store.get(key)).toBeUndefined();
    expect(pool.usage()).toMatchObject({ releasePending: 1, free: 0 });
    // The slot is not reused while the view lives: the next put finds the pool full.
    await expect(store.put(Uint8Array.of(1, 1, 1))).rejects.toBeInstanceOf(StoreFullError);
    expect(Array.from(view)).toEqual([7, 8, 9]);
    expect(releaseSharedMemory(view)).toBe(true);
    expect(releaseSharedMemory(view)).toBe(false);
    expect(pool.usage().free).toBe(1);
    await store.put(Uint8Array.of(1, 1, 1));
  });

  it('a view that is garbage-collected gives its evicted slot back', async () => {
    const pool = smallPool(1);
    const store = await SharedMemoryStore.create({ pool, fullTimeoutMs: 0 });
    const key = await store.put(Uint8Array.of(5));
    await (async () => {
      const view = await store.get(key);
      expect(view?.[0]).toBe(5);
    })();
    await store.evict(key);
    expect(pool.usage().releasePending).toBe(1);
    // FinalizationRegistry callbacks run in a task after a collection; wait for the condition.
    for (let i = 0; i < 200 && pool.usage().free === 0; i++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(pool.usage()).toMatchObject({ free: 1, releasePending: 0 });
  });

  it('rejects every key it could not have made with InvalidStoreKeyError', async () => {
    const store = await SharedMemoryStore.create({ pool: smallPool(4) });
    const key = await store.put(Uint8Array.of(1));
    const [id, , generation] = key.split('-');
    const other = await (await SharedMemoryStore.create({ pool: smallPool(4) })).put(
      Uint8Array.of(1),
    );
    const hostile = [
      `${id}-4-1`, // slot out of range
      `${id}-99999999-1`,
      `${id}-0-0`, // generation 0 is never drawn
      `${id}-0-${2 ** 30}`, // beyond the 30-bit generations
      `${id}-00-${generation}`, // not canonical
      `${id}-0-0${generation}`,
      `${id}-+0-${generation}`,
      `${id}-0-${generation} `,
      `${id!.toUpperCase()}-0-${generation}`,
      `${id}-0`,
      `${id}-0-${generation}-0`,
      other, // another pool's key
      '0123456789abcdef0123456789abcdef',
      '__proto__',
      '',
    ];
    for (const bad of hostile) {
      await expect(store.get(bad), bad).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.exists(bad), bad).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.evict(bad), bad).rejects.toBeInstanceOf(InvalidStoreKeyError);
    }
    expect(await store.exists(key)).toBe(true);
  });

  it('refuses operations after close with ClosedError, also a put waiting for a slot', async () => {
    const store = await SharedMemoryStore.create({ pool: smallPool(1), fullTimeoutMs: 30_000 });
    await store.put(Uint8Array.of(1));
    const waiting = store.put(Uint8Array.of(2)).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.close();
    expect(await within(waiting, 5_000, 'the waiting put')).toBeInstanceOf(ClosedError);
    await expect(store.get('x')).rejects.toBeInstanceOf(ClosedError);
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('refuses bad sizes and handles that do not match their buffers with InvalidArgumentError', async () => {
    expect(() => new SharedMemoryPool({ slotBytes: 0 })).toThrow(InvalidArgumentError);
    expect(() => new SharedMemoryPool({ slots: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => new SharedMemoryPool({ sizeClasses: [] })).toThrow(InvalidArgumentError);
    const handle = smallPool(2).handle();
    expect(() =>
      SharedMemoryPool.fromHandle({ ...handle, sizeClasses: [{ slotBytes: 1024, slots: 3 }] }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      SharedMemoryPool.fromHandle({ ...handle, data: [new SharedArrayBuffer(10)] }),
    ).toThrow(InvalidArgumentError);
    await expect(
      SharedMemoryStore.create({ pool: smallPool(1), fullTimeoutMs: -1 }),
    ).rejects.toThrow(InvalidArgumentError);
  });
});

describe('SharedMemoryStoreFactory', () => {
  it('opens only the pools it was given, from their handles', async () => {
    const pool = new SharedMemoryPool({ name: `given-${Math.random()}`, slotBytes: 64, slots: 2 });
    const key = await (await SharedMemoryStore.create({ pool })).put(Uint8Array.of(4, 2));
    const factory = new SharedMemoryStoreFactory({ pools: [pool.handle()] });
    const reopened = await factory.open({ kind: 'shared', name: pool.name });
    expect(Array.from((await reopened.get(key))!)).toEqual([4, 2]);
    const refused: StoreConfig[] = [
      { kind: 'shared', name: 'another pool' },
      { kind: 'memory', name: pool.name },
      { kind: 'file', name: pool.name, directory: '/tmp' },
    ];
    for (const config of refused) {
      await expect(factory.open(config), JSON.stringify(config)).rejects.toBeInstanceOf(
        StoreNotAllowedError,
      );
    }
  });

  it('refuses two different pools of one name', () => {
    const a = new SharedMemoryPool({ name: 'twin', slotBytes: 64, slots: 1 });
    const b = new SharedMemoryPool({ name: 'twin', slotBytes: 64, slots: 1 });
    expect(() => new SharedMemoryStoreFactory({ pools: [a, b.handle()] })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new SharedMemoryStoreFactory({ pools: [a, a.handle()] })).not.toThrow();
  });
});
