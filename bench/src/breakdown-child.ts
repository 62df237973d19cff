import { createHook } from 'node:async_hooks';
import { closeSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '@proxystream/protocols';
import { FileStore, FileStoreFactory } from '@proxystream/stream';
import { Redis } from 'ioredis';
import { payload } from './timing.js';

/** Settings of one breakdown child, passed as JSON in argv[2]. */
export interface BreakdownChildSettings {
  /** `proxystream`: FileStore phases; `bound`: the machine's own copies and file I/O. */
  readonly who: 'proxystream' | 'bound';
  readonly dir: string;
  readonly size: number;
  readonly iterations: number;
  /** Untimed iterations first (JIT, first open of the directory, recycled files). */
  readonly warmup: number;
  readonly redisUrl: string;
  /** Bracket every phase with a write of `@@bd <phase> <iteration> b|e` to /dev/null (for strace). */
  readonly markers: boolean;
  /** Count thread-pool requests (async_hooks) and bytes copied by JavaScript (patched copy methods). */
  readonly count: boolean;
}

/** One phase of one iteration. */
export interface PhaseSample {
  readonly wallMs: number;
  readonly userMs: number;
  readonly sysMs: number;
  readonly minorFaults: number;
  readonly majorFaults: number;
  /** Thread-pool requests started (only with `count`). */
  readonly pool: number;
  /** Bytes copied by JavaScript through TypedArray/Buffer copy methods (only with `count`). */
  readonly jsCopied?: number;
}

/** The child's answer, the last line of its stdout. */
export interface BreakdownChildResult {
  readonly phases: Record<string, PhaseSample[]>;
}

/** async_hooks resource types whose work runs on libuv's thread pool. */
const POOL_TYPES = new Set([
  'FSREQCALLBACK',
  'FSREQPROMISE',
  'FILEHANDLECLOSEREQ',
  'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP',
  'RANDOMBYTESREQUEST',
  'PBKDF2REQUEST',
  'SCRYPTREQUEST',
  'HKDFREQUEST',
  'HASHREQUEST',
  'ZLIB',
]);

let pool = 0;
let jsCopied = 0;

/** Wraps the copying methods JavaScript code can call so that their bytes are counted. */
function countCopies(): void {
  const typed = Object.getPrototypeOf(Uint8Array.prototype) as {
    set(source: ArrayLike<number>, offset?: number): void;
    slice(start?: number, end?: number): ArrayBufferView;
  };
  const set = typed.set;
  typed.set = function (this: ArrayBufferView & { BYTES_PER_ELEMENT: number }, source, offset) {
    jsCopied += source.length * this.BYTES_PER_ELEMENT;
    return set.call(this, source, offset);
  };
  const slice = typed.slice;
  typed.slice = function (this: ArrayBufferView, start, end) {
    const copy = slice.call(this, start, end);
    jsCopied += copy.byteLength;
    return copy;
  };
  const copy = Buffer.prototype.copy;
  Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
    const n = copy.apply(this, args);
    jsCopied += n;
    return n;
  };
  const concat = Buffer.concat;
  Buffer.concat = (list, length) => {
    const out = concat(list, length);
    jsCopied += out.byteLength;
    return out;
  };
  const from = Buffer.from as (...args: unknown[]) => Buffer;
  (Buffer as { from: unknown }).from = (...args: unknown[]) => {
    const out = from(...args);
    if (ArrayBuffer.isView(args[0])) jsCopied += out.byteLength;
    return out;
  };
  const arraySlice = ArrayBuffer.prototype.slice;
  ArrayBuffer.prototype.slice = function (this: ArrayBuffer, start?: number, end?: number) {
    const out = arraySlice.call(this, start, end);
    jsCopied += out.byteLength;
    return out;
  };
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** A warm buffer of `size` bytes starting `lead` bytes into its own ArrayBuffer. */
function warmBuffer(size: number, lead: number): Uint8Array {
  const buffer = new Uint8Array(new ArrayBuffer(size + lead), lead, size);
  buffer.fill(1);
  return buffer;
}

function writeWhole(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.byteLength; )
    done += writeSync(fd, data, done, data.byteLength - done, done);
}

function readWhole(fd: number, into: Uint8Array): void {
  for (let done = 0; done < into.byteLength; ) {
    const n = readSync(fd, into, done, into.byteLength - done, done);
    if (n === 0) throw new Error('short file');
    done += n;
  }
}

type Steps = Record<string, () => unknown>;

async function proxystreamSteps(settings: BreakdownChildSettings): Promise<{
  steps: Steps;
  close(): Promise<void>;
}> {
  const redis = new Redis(settings.redisUrl, { lazyConnect: true });
  await redis.connect();
  const channel = `bench-breakdown-${process.pid}`;
  const producer = await FileStore.create({ directory: settings.dir });
  const data = payload(settings.size, 5);
  let key = '';
  let consumer: Store | undefined;
  const opened: Store[] = [];
  const steps: Steps = {
    put: async () => {
      key = await producer.put(data);
    },
    // The event a StreamProducer publishes for a stored object carries the key and the store
    // config; one PUBLISH round trip of that size stands for it.
    event: () =>
      redis.publish(channel, JSON.stringify({ topic: channel, key, store: producer.config() })),
    // A consumer opens a store from the config in the first event naming it, then keeps it.
    open: async () => {
      consumer = await new FileStoreFactory({ allowedRoots: [settings.dir] }).open(
        producer.config(),
      );
      opened.push(consumer);
    },
    read: async () => {
      const bytes = await consumer!.get(key);
      if (bytes?.byteLength !== settings.size) throw new Error('read returned the wrong object');
    },
    evict: () => consumer!.evict(key),
  };
  return {
    steps,
    close: async () => {
      redis.disconnect();
      for (const store of opened) await store.close();
      await producer.close();
    },
  };
}

function boundSteps(settings: BreakdownChildSettings): { steps: Steps; close(): Promise<void> } {
  const { size, dir } = settings;
  const source = payload(size, 7);
  // A large ArrayBuffer comes from glibc's mmap and starts 16 bytes after a page boundary (see
  // file-io.ts); lead 0 keeps that, lead 48 moves it 64 bytes after one.
  const warm = warmBuffer(size, 0);
  const warmShifted = warmBuffer(size, 48);
  const path = join(dir, `.bound-${process.pid}`);
  rmSync(path, { force: true });
  const steps: Steps = {
    'memcpy warm': () => warm.set(source),
    'memcpy fresh': () => new Uint8Array(size).set(source),
    'write new': () => {
      const fd = openSync(path, 'wx');
      writeWhole(fd, source);
      closeSync(fd);
    },
    overwrite: () => {
      const fd = openSync(path, 'r+');
      writeWhole(fd, source);
      closeSync(fd);
    },
    'read warm +16': () => {
      const fd = openSync(path, 'r');
      readWhole(fd, warm);
      closeSync(fd);
    },
    'read warm +64': () => {
      const fd = openSync(path, 'r');
      readWhole(fd, warmShifted);
      closeSync(fd);
    },
    'read fresh': () => {
      const fd = openSync(path, 'r');
      readWhole(fd, new Uint8Array(size));
      closeSync(fd);
    },
    unlink: () => unlinkSync(path),
  };
  return { steps, close: async () => rmSync(path, { force: true }) };
}

const settings = JSON.parse(process.argv[2]!) as BreakdownChildSettings;
if (settings.count) {
  countCopies();
  createHook({
    init(_id, type) {
      if (POOL_TYPES.has(type)) pool++;
    },
  }).enable();
}
const markerFd = settings.markers ? openSync('/dev/null', 'w') : -1;
const mark = (text: string) => {
  if (markerFd >= 0) writeSync(markerFd, `@@bd ${text}\n`);
};

const { steps, close } =
  settings.who === 'proxystream' ? await proxystreamSteps(settings) : boundSteps(settings);
const phases: Record<string, PhaseSample[]> = {};
for (const name of Object.keys(steps)) phases[name] = [];
for (let iteration = 0; iteration < settings.warmup + settings.iterations; iteration++) {
  for (const [name, step] of Object.entries(steps)) {
    // Collected before the phase so that a collection of the last iteration's buffers does not
    // land in it (fresh buffers are then really fresh mappings).
    if (settings.who === 'bound' || name === 'read') collectGarbage();
    const pool0 = pool;
    const copied0 = jsCopied;
    const ru0 = process.resourceUsage();
    mark(`${name} ${iteration} b`);
    const t0 = process.hrtime.bigint();
    await step();
    const t1 = process.hrtime.bigint();
    mark(`${name} ${iteration} e`);
    const ru1 = process.resourceUsage();
    if (iteration < settings.warmup) continue;
    phases[name]!.push({
      wallMs: Number(t1 - t0) / 1e6,
      userMs: (ru1.userCPUTime - ru0.userCPUTime) / 1e3,
      sysMs: (ru1.systemCPUTime - ru0.systemCPUTime) / 1e3,
      minorFaults: ru1.minorPageFault - ru0.minorPageFault,
      majorFaults: ru1.majorPageFault - ru0.majorPageFault,
      pool: pool - pool0,
      ...(settings.count ? { jsCopied: jsCopied - copied0 } : {}),
    });
  }
}
await close();
process.stdout.write(`${JSON.stringify({ phases } satisfies BreakdownChildResult)}\n`);
process.exit(0);
