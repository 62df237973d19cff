import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../src/file-store.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { buildForWorkers } from './worker-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

let root: string;
let counter = 0;
const nextDirectory = () => join(root, `recycling-${++counter}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-file-recycling-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const filled = (size: number, value: number) => new Uint8Array(size).fill(value);
/** Byte-for-byte comparison (vitest's deep equality is far too slow for megabytes). */
const same = (got: Uint8Array | undefined, want: Uint8Array) =>
  got !== undefined && Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want);

describe('FileStore recycling', () => {
  it('overwrites the file of an evicted object for the next put, and deletes nothing it still needs', async () => {
    const directory = nextDirectory();
    const producer = await FileStore.create({ directory });
    const consumer = await FileStore.create({ directory });
    const first = await producer.put(filled(3 * MiB, 1));
    const inode = (await stat(join(directory, first))).ino;
    expect(same(await consumer.get(first), filled(3 * MiB, 1))).toBe(true);
    await consumer.evict(first);
    expect(await consumer.exists(first)).toBe(false);
    // A smaller object in the same inode: truncated to its own size.
    const second = await producer.put(filled(MiB, 2));
    expect((await stat(join(directory, second))).ino).toBe(inode);
    expect(same(await consumer.get(second), filled(MiB, 2))).toBe(true);
    expect(await readdir(directory)).toEqual([second]);
    await consumer.close();
    await producer.close();
    expect(await readdir(directory)).toEqual([second]);
  });

  it('deletes evicted files no put took, within a second and at close', async () => {
    const directory = nextDirectory();
    const store = await FileStore.create({ directory });
    const keys = await store.putBatch([filled(100, 1), filled(100, 2), filled(100, 3)]);
    await store.evict(keys[0]!);
    expect((await readdir(directory)).filter((name) => name.startsWith('.free-'))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect((await readdir(directory)).sort()).toEqual([keys[1]!, keys[2]!].sort());
    await store.evict(keys[1]!);
    await store.close();
    expect(await readdir(directory)).toEqual([keys[2]!]);
  });

  it('answers undefined, never another object, when the file is evicted and reused during a read', async () => {
    const directory = nextDirectory();
    // Every object on the thread pool, so the read is still running when the evict comes.
    const store = await FileStore.create({ directory, syncBelow: 0 });
    const key = await store.put(filled(16 * MiB, 1));
    const reading = store.get(key);
    await store.evict(key);
    const other = await store.put(filled(16 * MiB, 2));
    expect(await reading).toBeUndefined();
    expect(same(await store.get(other), filled(16 * MiB, 2))).toBe(true);
    await store.close();
  });

  it('never writes through a link planted under a free name', async () => {
    const directory = nextDirectory();
    const store = await FileStore.create({ directory });
    const key = await store.put(filled(10, 1));
    const victim = join(root, `victim-${counter}`);
    await writeFile(victim, 'keep me');
    await unlink(join(directory, key));
    await symlink(victim, join(directory, `.free-${key}`));
    const next = await store.put(filled(10, 2));
    expect(await readFile(victim, 'utf8')).toBe('keep me');
    expect(same(await store.get(next), filled(10, 2))).toBe(true);
    expect(await readdir(directory)).toEqual([next]);
    await store.close();
  });

  it('refuses a syncBelow that is not a number >= 0', async () => {
    for (const syncBelow of [-1, Number.NaN, '2' as unknown as number]) {
      await expect(
        FileStore.create({ directory: nextDirectory(), syncBelow }),
        String(syncBelow),
      ).rejects.toThrow(InvalidArgumentError);
    }
  });

  it('leaves only its own files when recycling is off', async () => {
    const directory = nextDirectory();
    const store = await FileStore.create({ directory, recycle: false });
    const key = await store.put(filled(10, 1));
    await store.evict(key);
    expect(await readdir(directory)).toEqual([]);
    await store.close();
  });

  it('a process that evicts and exits without closing its store leaves no file behind', async () => {
    const build = await buildForWorkers();
    const directory = nextDirectory();
    const script = `
      import { FileStore } from ${JSON.stringify(join(build, 'stream', 'index.js'))};
      const store = await FileStore.create({ directory: ${JSON.stringify(directory)} });
      const keys = await store.putBatch([new Uint8Array(1000), new Uint8Array(2000)]);
      await store.evict(keys[0]);
      await store.evict(keys[1]);
      console.log('evicted');
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: build,
    });
    expect(stdout.trim()).toBe('evicted');
    expect(await readdir(directory)).toEqual([]);
    await rm(build, { recursive: true, force: true });
  });

  it('one-shot objects through a stream: every object arrives intact while files are reused', async () => {
    const directory = nextDirectory();
    const broker = new InProcessBroker();
    const subscriber = await broker.subscriber('frames');
    const producer = new StreamProducer<Uint8Array>(broker.publisher(), {
      defaultStore: await FileStore.create({ directory }),
    });
    const consumer = new StreamConsumer<Uint8Array>(subscriber, {
      stores: [new FileStoreFactory({ allowedRoots: [root] })],
    });
    const inodes = new Set<number>();
    const sending = (async () => {
      for (let i = 0; i < 40; i++) {
        await producer.send('frames', filled(MiB + i, i));
        const names = (await readdir(directory)).filter((name) => !name.startsWith('.'));
        for (const name of names) {
          // The consumer may have evicted it since the listing.
          const stats = await stat(join(directory, name)).catch(() => undefined);
          if (stats !== undefined) inodes.add(stats.ino);
        }
      }
      await producer.closeTopics('frames');
    })();
    let i = 0;
    for await (const object of consumer.iterObjects()) {
      expect(same(object, filled(MiB + i, i)), `object ${i}`).toBe(true);
      i++;
    }
    await sending;
    expect(i).toBe(40);
    // Recycled: far fewer inodes than objects.
    expect(inodes.size).toBeLessThan(20);
    await consumer.close({ stores: true });
    await producer.close({ stores: true });
    expect(await readdir(directory)).toEqual([]);
  });
});
