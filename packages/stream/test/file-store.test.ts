import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { longKeyMessageCase, storeContract } from '@proxystream/contract-tests';
import {
  InvalidStoreKeyError,
  type StoreConfig,
  StoreError,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../src/file-store.js';

let root: string;
let counter = 0;
const nextDirectory = () => join(root, `store-${++counter}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-file-store-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

storeContract({
  name: 'FileStore',
  createStore: async () => await FileStore.create({ directory: nextDirectory() }),
  openFromConfig: (config) => new FileStoreFactory({ allowedRoots: [root] }).open(config),
});

longKeyMessageCase({
  name: 'FileStore',
  createStore: async () => await FileStore.create({ directory: nextDirectory() }),
});

describe('FileStore', () => {
  it('rejects every key that is not 32 lowercase hex characters, so none can leave the directory', async () => {
    const store = await FileStore.create({ directory: nextDirectory() });
    const secret = join(root, 'secret');
    await writeFile(secret, 'do not read');
    await store.put(Uint8Array.of(1));
    const hostile = [
      '../secret',
      `..${'/'}..${'/'}etc/passwd`,
      secret,
      '0123456789abcdef0123456789abcde/',
      '0123456789ABCDEF0123456789ABCDEF',
      '0123456789abcdef0123456789abcdef/../../secret',
      '.0123456789abcdef0123456789abcdef.tmp',
      '0123456789abcdef0123456789abcdef\0',
      '',
    ];
    for (const key of hostile) {
      await expect(store.get(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.exists(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.evict(key), key).rejects.toBeInstanceOf(InvalidStoreKeyError);
    }
  });

  it('writes through a temporary file and leaves only the final file behind', async () => {
    const directory = nextDirectory();
    const store = await FileStore.create({ directory, fsync: true });
    const keys = await store.putBatch([Buffer.alloc(1024 * 1024, 7), Buffer.alloc(10, 1)]);
    expect((await readdir(directory)).sort()).toEqual([...keys].sort());
    const got = await store.get(keys[0]!);
    expect(got?.byteLength).toBe(1024 * 1024);
  });

  it('round-trips an empty object, a view into a larger buffer and a 20 MiB object byte for byte', async () => {
    const store = await FileStore.create({ directory: nextDirectory() });
    const large = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < large.length; i += 4093) large[i] = i & 0xff;
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i);
    const view = backing.subarray(8, 40);
    for (const data of [new Uint8Array(0), view, large]) {
      const key = await store.put(data);
      const got = await store.get(key);
      expect(got?.byteLength).toBe(data.byteLength);
      expect(Buffer.from(got!).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('never exposes a partial object to a concurrent reader', async () => {
    const directory = nextDirectory();
    const writer = await FileStore.create({ directory });
    const reader = await FileStore.create({ directory });
    const size = 8 * 1024 * 1024;
    const writing = writer.put(Buffer.alloc(size, 3));
    // Poll the directory while the write runs: any file named like a key must be complete.
    let checks = 0;
    let done = false;
    void writing.then(() => {
      done = true;
    });
    while (!done) {
      for (const name of await readdir(directory).catch(() => [])) {
        if (/^[0-9a-f]{32}$/.test(name)) {
          const data = await reader.get(name);
          if (data !== undefined) expect(data.byteLength).toBe(size);
        }
      }
      checks++;
    }
    expect(checks).toBeGreaterThan(0);
    expect((await reader.get(await writing))?.byteLength).toBe(size);
  });

  it('wraps file system failures in StoreError', async () => {
    const file = join(root, `not-a-directory-${++counter}`);
    await writeFile(file, 'x');
    const store = await FileStore.create({ directory: file });
    await expect(store.put(Uint8Array.of(1))).rejects.toBeInstanceOf(StoreError);
  });
});

describe('FileStoreFactory', () => {
  it('opens a directory under an allowed root', async () => {
    const store = await FileStore.create({ directory: nextDirectory() });
    const key = await store.put(Uint8Array.of(4, 2));
    const reopened = await new FileStoreFactory({ allowedRoots: [root] }).open(store.config());
    expect(Array.from((await reopened.get(key))!)).toEqual([4, 2]);
  });

  it('refuses a directory outside the allowed roots, also through "..", relative paths and symlinks', async () => {
    const inside = nextDirectory();
    const allowed = join(root, 'allowed');
    await (await FileStore.create({ directory: join(allowed, 'x') })).put(Uint8Array.of(1));
    await (await FileStore.create({ directory: inside })).put(Uint8Array.of(1));
    const link = join(allowed, 'escape');
    await symlink(inside, link);
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const configs: StoreConfig[] = [
      { kind: 'file', name: 'a', directory: inside },
      { kind: 'file', name: 'b', directory: join(allowed, '..', inside.slice(root.length + 1)) },
      { kind: 'file', name: 'c', directory: 'relative/dir' },
      { kind: 'file', name: 'd', directory: link },
      { kind: 'file', name: 'e' },
      { kind: 'memory', name: 'f', directory: join(allowed, 'x') },
    ];
    for (const config of configs) {
      await expect(factory.open(config), config.name).rejects.toBeInstanceOf(StoreNotAllowedError);
    }
    await expect(
      factory.open({ kind: 'file', name: 'g', directory: join(allowed, 'x') }),
    ).resolves.toBeInstanceOf(FileStore);
  });

  it("allowedRoots 'any' opens any existing directory", async () => {
    const directory = nextDirectory();
    await (await FileStore.create({ directory })).put(Uint8Array.of(1));
    await expect(
      new FileStoreFactory({ allowedRoots: 'any' }).open({ kind: 'file', name: 'n', directory }),
    ).resolves.toBeInstanceOf(FileStore);
  });
});
