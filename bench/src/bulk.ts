import { mkdirSync, rmSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import type { Store, StoreFactory } from '@proxystream/protocols';
import { withTimeout } from '@proxystream/protocols/kit';
import {
  FileStore,
  FileStoreFactory,
  InProcessBroker,
  type ProxyReference,
  StreamConsumer,
  StreamProducer,
} from '@proxystream/stream';
import { Redis } from 'ioredis';
import type { BenchConfig } from './config.js';
import { fixed, si, sizeLabel, spread, table } from './format.js';
import { freshTopic } from './pipe.js';
import { progress, type SectionResult } from './report.js';
import { descriptorNamed, shimEndpoints, streamContenderName } from './shim-adapters.js';
import { loadShim } from './shims.js';
import { ratio, type Summary, summarize } from './stats.js';
import { MiB, now, payload } from './timing.js';

/** Moves one object from writer to reader; returns the bytes the reader got. */
type Transfer = (data: Uint8Array) => Promise<number>;

interface BulkContender {
  readonly name: string;
  readonly group: string;
  readonly kind: 'raw' | 'store' | 'stream' | 'inline';
  open(): Promise<{ transfer: Transfer; close(): Promise<void> }>;
}

interface Unavailable {
  readonly name: string;
  readonly group: string;
  readonly kind: BulkContender['kind'];
  readonly unavailable: string;
}

type BulkEntry = BulkContender | Unavailable;

const toBuffer = (data: Uint8Array): Buffer =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** Store put → get → evict. */
function storeContender(name: string, group: string, make: () => Promise<Store>): BulkContender {
  return {
    name,
    group,
    kind: 'store',
    async open() {
      const store = await make();
      return {
        async transfer(data) {
          const key = await store.put(data);
          const back = await store.get(key);
          await store.evict(key);
          return back?.byteLength ?? 0;
        },
        close: () => store.close(),
      };
    },
  };
}

/** StreamProducer with `store` → in-process event broker → StreamConsumer → reference.resolve(). */
function streamStoreContender(
  name: string,
  group: string,
  make: () => Promise<{ store: Store; factory: StoreFactory }>,
): BulkContender {
  return {
    name,
    group,
    kind: 'stream',
    async open() {
      const { store, factory } = await make();
      const broker = new InProcessBroker();
      const topic = freshTopic('bulk');
      const consumer = new StreamConsumer<Uint8Array>(await broker.eventSubscriber(topic), {
        topics: [topic],
        stores: [factory],
      });
      const producer = new StreamProducer<Uint8Array>(broker.eventPublisher(), {
        defaultStore: store,
      });
      return {
        async transfer(data) {
          await producer.send(topic, data, { evict: true });
          const next = await consumer.next();
          if (next.done) throw new Error('stream ended');
          const value = await (next.value as ProxyReference<Uint8Array>).resolve();
          return value.byteLength;
        },
        async close() {
          await producer.close({ topics: [topic], stores: true });
          await consumer.close({ stores: true });
          await broker.close();
        },
      };
    },
  };
}

/** {@link streamInlineContender} through the shim descriptor named `shim`. */
async function inlineThroughShim(
  shim: string,
  group: string,
  config: BenchConfig,
): Promise<BulkEntry> {
  const descriptor = await descriptorNamed(shim);
  if (typeof descriptor === 'string') {
    return { name: `stream inline · ${shim} shim`, group, kind: 'inline', unavailable: descriptor };
  }
  const name = streamContenderName(descriptor.title).replace(/^stream/, 'stream inline');
  return streamInlineContender(name, group, shimEndpoints(descriptor, config));
}

/** StreamProducer inline (no store) through a shim's broker. */
function streamInlineContender(
  name: string,
  group: string,
  endpoints: ReturnType<typeof shimEndpoints> | string,
): BulkEntry {
  if (typeof endpoints === 'string') return { name, group, kind: 'inline', unavailable: endpoints };
  return {
    name,
    group,
    kind: 'inline',
    async open() {
      const topic = freshTopic('bulk-inline');
      const ends = await endpoints(topic);
      const producer = new StreamProducer<Uint8Array>(ends.publisher);
      const consumer = new StreamConsumer<Uint8Array>(ends.subscriber, { topics: [topic] });
      return {
        async transfer(data) {
          await producer.send(topic, data);
          const next = await consumer.nextObject();
          if (next.done) throw new Error('stream ended');
          return next.value.byteLength;
        },
        async close() {
          await producer.close();
          await consumer.close();
          await ends.close();
        },
      };
    },
  };
}

async function objectStoreEntries(config: BenchConfig): Promise<BulkEntry[]> {
  const group = 'NATS object store';
  const name = 'proxystream NATS object store';
  const module = await loadShim('@proxystream/shim-nats');
  if ('reason' in module) return [{ name, group, kind: 'store', unavailable: module.reason }];
  const storeName = Object.keys(module.exports).find((k) => /Object\w*Store$/.test(k));
  const factoryName = Object.keys(module.exports).find((k) => /Object\w*StoreFactory$/.test(k));
  if (storeName === undefined || factoryName === undefined) {
    const reason = '@proxystream/shim-nats exports no object store yet';
    return [
      { name, group, kind: 'store', unavailable: reason },
      { name: 'stream · NATS object store', group, kind: 'stream', unavailable: reason },
    ];
  }
  type Opener = {
    new (options: object): Store;
    open?: (options: object) => Promise<Store>;
    create?: (options: object) => Promise<Store>;
  };
  const Cls = module.exports[storeName] as Opener;
  const Factory = module.exports[factoryName] as new (options: object) => StoreFactory;
  const options = { connection: { servers: config.natsUrl }, bucket: 'proxystream-bench' };
  const make = async (): Promise<Store> =>
    Cls.open ? Cls.open(options) : Cls.create ? Cls.create(options) : new Cls(options);
  return [
    storeContender(name, group, make),
    streamStoreContender('stream · NATS object store', group, async () => ({
      store: await make(),
      factory: new Factory({ allowedServers: [config.natsUrl] }),
    })),
  ];
}

async function entries(config: BenchConfig, dir: string): Promise<BulkEntry[]> {
  const list: BulkEntry[] = [];
  // Files.
  list.push({
    name: 'raw fs writeFile + readFile',
    group: 'file',
    kind: 'raw',
    async open() {
      let n = 0;
      return {
        async transfer(data) {
          const path = join(dir, `raw-${n++}`);
          await writeFile(path, data);
          const back = await readFile(path);
          await unlink(path);
          return back.byteLength;
        },
        close: async () => undefined,
      };
    },
  });
  list.push(storeContender('FileStore', 'file', () => FileStore.create({ directory: dir })));
  list.push(
    streamStoreContender('stream · FileStore', 'file', async () => ({
      store: await FileStore.create({ directory: dir }),
      factory: new FileStoreFactory({ allowedRoots: [dir] }),
    })),
  );
  // Redis.
  list.push({
    name: 'raw ioredis SET + GET',
    group: 'Redis',
    kind: 'raw',
    async open() {
      const client = new Redis(config.redisUrl);
      const key = freshTopic('bulk-raw');
      return {
        async transfer(data) {
          await client.set(key, toBuffer(data));
          const back = await client.getBuffer(key);
          await client.del(key);
          return back?.byteLength ?? 0;
        },
        close: async () => client.disconnect(),
      };
    },
  });
  const redisShim = await loadShim('@proxystream/shim-redis');
  if ('reason' in redisShim) {
    list.push({ name: 'RedisStore', group: 'Redis', kind: 'store', unavailable: redisShim.reason });
  } else {
    const RedisStore = redisShim.exports.RedisStore as {
      create(options: object): Promise<Store>;
    };
    const RedisStoreFactory = redisShim.exports.RedisStoreFactory as new (
      options: object,
    ) => StoreFactory;
    const host = new URL(config.redisUrl);
    list.push(
      storeContender('RedisStore', 'Redis', () =>
        RedisStore.create({ connection: config.redisUrl }),
      ),
      streamStoreContender('stream · RedisStore', 'Redis', async () => ({
        store: await RedisStore.create({ connection: config.redisUrl }),
        factory: new RedisStoreFactory({
          allowedServers: [`${host.hostname}:${host.port || 6379}`],
        }),
      })),
    );
  }
  list.push({
    name: 'raw ioredis PUBLISH (inline)',
    group: 'Redis',
    kind: 'inline',
    async open() {
      const publisher = new Redis(config.redisUrl);
      const subscriber = new Redis(config.redisUrl);
      const channel = freshTopic('bulk-pub');
      let wake: ((n: number) => void) | undefined;
      subscriber.on('messageBuffer', (_c: Buffer, m: Buffer) => wake?.(m.byteLength));
      await subscriber.subscribe(channel);
      return {
        async transfer(data) {
          const got = new Promise<number>((resolve) => {
            wake = resolve;
          });
          await publisher.publish(channel, toBuffer(data));
          return got;
        },
        close: async () => {
          subscriber.disconnect();
          publisher.disconnect();
        },
      };
    },
  });
  list.push(await inlineThroughShim('redis-pubsub', 'Redis', config));
  // NATS.
  list.push({
    name: 'raw @nats-io/obj put + get',
    group: 'NATS object store',
    kind: 'raw',
    async open() {
      const connection = await connect({ servers: config.natsUrl });
      const bucket = freshTopic('bulk-obj').replaceAll('.', '-');
      const objects = await new Objm(connection).create(bucket);
      let n = 0;
      return {
        async transfer(data) {
          const name = `o${n++}`;
          await objects.putBlob({ name }, data);
          const back = await objects.getBlob(name);
          await objects.delete(name);
          return back?.byteLength ?? 0;
        },
        close: async () => {
          await objects.destroy();
          await connection.close();
        },
      };
    },
  });
  list.push(...(await objectStoreEntries(config)));
  list.push(await inlineThroughShim('nats', 'NATS object store', config));
  return list;
}

/** Section 3: 1, 16, 100 MiB objects through stores vs raw store operations vs inline. */
/** Longest wait for one transfer: a message the broker drops never arrives. */
const TRANSFER_TIMEOUT_MS = 30_000;

/** `promise`, or a `TimeoutError` after {@link TRANSFER_TIMEOUT_MS}. */
function bounded<T>(promise: Promise<T>): Promise<T> {
  return withTimeout(
    promise,
    TRANSFER_TIMEOUT_MS,
    'the transfer (a message the broker dropped, e.g. Redis closes a pub/sub subscriber whose output buffer passes 32 MiB, never arrives)',
  );
}

export async function bulk(config: BenchConfig): Promise<SectionResult> {
  const dir = join(config.root, '.cache', 'bench', 'files');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sizes = config.quick ? [MiB, 16 * MiB] : [MiB, 16 * MiB, 100 * MiB];
  const rounds = config.quick ? 2 : 3;
  const list = await entries(config, dir);
  const rows: string[][] = [];
  const highlights: string[] = [];
  for (const size of sizes) {
    const data = payload(size, 7);
    const perObject = Math.max(1, Math.floor(((config.quick ? 16 : 48) * MiB) / size));
    const results = new Map<string, { samples: number[]; error?: string }>();
    for (const entry of list) {
      results.set(entry.name, {
        samples: [],
        ...('unavailable' in entry ? { error: `not available: ${entry.unavailable}` } : {}),
      });
    }
    const live = list.filter((e): e is BulkContender => !('unavailable' in e));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? live : [...live].reverse();
      for (const entry of order) {
        const result = results.get(entry.name)!;
        if (result.error !== undefined) continue;
        progress(`bulk ${sizeLabel(size)} ${entry.name} round ${round + 1}`);
        try {
          const opened = await entry.open();
          try {
            const warm = await bounded(opened.transfer(data));
            if (warm !== size) throw new Error(`read ${warm} bytes of ${size}`);
            const start = now();
            for (let i = 0; i < perObject; i++) await bounded(opened.transfer(data));
            const seconds = (now() - start) / 1000;
            result.samples.push((perObject * size) / seconds / 1e6);
          } finally {
            await opened.close().catch(() => undefined);
          }
        } catch (error) {
          result.error = `failed: ${(error as Error).message.split('\n')[0]!.slice(0, 140)}`;
        }
      }
    }
    const summaries = new Map<string, Summary>();
    for (const [name, r] of results)
      if (r.samples.length > 0) summaries.set(name, summarize(r.samples));
    for (const entry of list) {
      const r = results.get(entry.name)!;
      const s = summaries.get(entry.name);
      const raw = list.find((e) => e.group === entry.group && e.kind === 'raw');
      const vsRaw =
        entry.kind === 'raw' || raw === undefined ? NaN : ratio(s, summaries.get(raw.name));
      rows.push([
        sizeLabel(size),
        entry.group,
        entry.name,
        s === undefined ? (r.error ?? '–') : spread(s),
        Number.isNaN(vsRaw) ? '' : fixed(vsRaw),
      ]);
      if (size === 16 * MiB && entry.kind === 'stream' && !Number.isNaN(vsRaw)) {
        highlights.push(
          `bulk 16 MiB ${entry.name}: ${si(s!.median)} MB/s, ${fixed(vsRaw)} × ${raw!.name}`,
        );
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const body = [
    'One object at a time, written then read back (and deleted), in this process. MB/s = 10^6 bytes of object ' +
      `per second for write + read, median (min–max) over ${rounds} alternating rounds; each round moves ` +
      `${config.quick ? 16 : 48} MiB (at least one object) after one warm-up object. Stream rows: ` +
      '`StreamProducer` with the store → in-process event broker → `StreamConsumer` → `reference.resolve()` ' +
      '(one-shot, so the data is evicted). "inline" rows push the bytes through the broker itself. ' +
      `Files live in ${dir} (page cache, no fsync).`,
    '',
    table(['size', 'backend', 'contender', 'MB/s median (min–max)', '÷ raw'], rows),
  ].join('\n');
  return { title: 'Bulk data: stores vs raw store operations vs inline', body, highlights };
}
