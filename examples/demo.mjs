#!/usr/bin/env node
// The proxystream dispatcher demo.
//
// A producer (its own thread, demo-producer.mjs) streams large synthetic frames with metadata:
// the bytes go to a store (a file store, or with --store shared a SharedMemoryPool the threads
// share), only ~200-byte events go through the broker. This thread, the
// dispatcher, consumes the events as references (never touching the bytes), drops the "blurry"
// frames by metadata (their stored data is evicted), and hands the serialised references to
// worker_threads workers (demo-worker.mjs) that resolve them and verify a checksum.
//
//   pnpm build && node examples/demo.mjs [--count 200] [--size 4MiB] [--workers 4] [--batch 4] [--store shared]
//
// Run `node examples/demo.mjs --help` for every option.

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import {
  FileStoreFactory,
  InProcessBroker,
  metadataMatches,
  SharedMemoryPool,
  SharedMemoryStoreFactory,
  StreamConsumer,
} from '@proxystream/stream';

const HELP = `Usage: node examples/demo.mjs [options]

  --count <n>        frames to stream                          (default 200)
  --size <bytes>     bytes per frame: 4MiB, 512KiB, 1000000    (default 4MiB)
  --workers <n>      worker threads resolving references       (default min(4, cores))
  --batch <n>        frames per broker message (batchSize)     (default 4)
  --blurry-every <n> every n-th frame is tagged blurry and dropped by the dispatcher (default 10; 0: none)
  --store <kind>     file (default): one file per frame in a temporary directory, which any
                     thread or process can open; shared: a SharedMemoryPool of this process's
                     threads (the demo's producer and workers are worker_threads), where a
                     resolve returns a view of the producer's bytes instead of a copy
  --broker <url>     in-process (default). redis://…, nats://…, kafka://… are not yet available:
                     they arrive with the shims (packages/shim-*)
  --keep             keep the store directory instead of deleting it
  --help             this text
`;

// ---------------------------------------------------------------- options

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|kb|mib|mb|gib|gb)?$/i.exec(String(text).trim());
  if (!match)
    throw new Error(`--size: cannot read "${text}" (try 4MiB, 512KiB or a number of bytes)`);
  const units = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  return Math.round(Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]);
}

function positive(name, text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name}: expected a positive integer, got "${text}"`);
  return value;
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200' },
      size: { type: 'string', default: '4MiB' },
      workers: { type: 'string', default: String(Math.min(4, availableParallelism())) },
      batch: { type: 'string', default: '4' },
      'blurry-every': { type: 'string', default: '10' },
      store: { type: 'string', default: 'file' },
      broker: { type: 'string', default: 'in-process' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const blurryEvery = Number(values['blurry-every']);
  if (!Number.isInteger(blurryEvery) || blurryEvery < 0)
    throw new Error('--blurry-every: expected an integer >= 0');
  if (values.store !== 'file' && values.store !== 'shared')
    throw new Error(`--store: expected file or shared, got "${values.store}"`);
  const frameSize = parseSize(values.size);
  if (values.store === 'shared' && frameSize < 1)
    throw new Error('--size: a shared-memory pool needs frames of at least 1 byte');
  return {
    count: positive('count', values.count),
    size: frameSize,
    workers: positive('workers', values.workers),
    batch: positive('batch', values.batch),
    blurryEvery,
    store: values.store,
    broker: values.broker,
    keep: values.keep,
  };
}

// ---------------------------------------------------------------- broker

/**
 * The one place that picks the transport. Once the shims are built, `--broker redis://…`,
 * `nats://…` and `kafka://…` will construct their publisher and subscriber here; until then they
 * are refused rather than faked.
 */
async function createTransport(url, topic) {
  if (url === 'in-process') {
    // A small per-subscriber buffer: when the workers fall behind, the dispatcher stops reading,
    // the broker fills and the producer's `send` waits. Frames on disk stay bounded.
    const broker = new InProcessBroker({ capacity: 4 });
    return {
      name: 'in-process broker',
      publisher: broker.publisher(),
      subscriber: await broker.subscriber(topic),
      close: () => broker.close(),
    };
  }
  const scheme = /^([a-z]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'nats' || scheme === 'kafka') {
    throw new UsageError(
      `--broker ${url}: not yet available. The ${scheme} shim (@proxystream/shim-${scheme}) is not wired into the demo yet; run without --broker to use the in-process broker.`,
    );
  }
  throw new UsageError(`--broker ${url}: unknown broker; use in-process`);
}

class UsageError extends Error {}

// ---------------------------------------------------------------- measuring

/** Counts the bytes of every message the producer hands to the broker. */
function countingPublisher(inner, totals) {
  return {
    async send(topic, message) {
      totals.brokerBytes += message.byteLength;
      totals.brokerMessages++;
      await inner.send(topic, message);
    },
    close: () => inner.close(),
  };
}

class MemoryWatch {
  peakRss = 0;
  peakHeap = 0;
  peakArrayBuffers = 0;
  #timer = setInterval(() => this.sample(), 25);

  sample() {
    const usage = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, usage.rss);
    this.peakHeap = Math.max(this.peakHeap, usage.heapUsed);
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, usage.arrayBuffers);
  }

  stop() {
    clearInterval(this.#timer);
    this.sample();
  }
}

const MiB = 1024 * 1024;
const mib = (bytes) => `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 1)} MiB`;
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const size = (bytes) => (bytes === 0 ? '0 B' : bytes < MiB ? kib(bytes) : mib(bytes));

// ---------------------------------------------------------------- stores

/**
 * The store the frames go to. `file`: a temporary directory, opened in each thread from the
 * events' config under `allowedRoots`. `shared`: a SharedMemoryPool made here, whose handle (its
 * SharedArrayBuffers) the producer and the workers receive in `workerData`; it works because they
 * are worker_threads of this process, not child processes.
 */
async function createStore(options) {
  if (options.store === 'shared') {
    // Room for what can be in flight at once: batches waiting in the broker (capacity 4) and in
    // the producer, and two frames per worker; a fuller pool only makes the producer's put wait.
    const slots = 6 * options.batch + 2 * options.workers;
    const pool = new SharedMemoryPool({ name: 'demo-frames', slotBytes: options.size, slots });
    return {
      description: `shared-memory store (${slots} slots × ${mib(options.size)})`,
      poolBytes: slots * options.size,
      factories: [new SharedMemoryStoreFactory({ pools: [pool] })],
      workerData: { kind: 'shared', pool: pool.handle() },
      resolveCopy: 'views into the SharedArrayBuffer',
      async leftover() {
        const usage = pool.usage();
        const used = usage.stored + usage.writing + usage.releasePending;
        return { count: used, text: `${used} slot(s) in use of ${usage.slots}` };
      },
      async remove() {},
    };
  }
  const directory = await mkdtemp(join(tmpdir(), 'proxystream-demo-'));
  return {
    description: `file store in ${directory}`,
    directory,
    factories: [new FileStoreFactory({ allowedRoots: [directory] })],
    workerData: { kind: 'file', directory, allowedRoots: [directory] },
    resolveCopy: 'read from the file into a new buffer',
    async leftover() {
      const count = await countFiles(directory);
      return { count, text: `${count} file(s) left` };
    },
    remove: () => rm(directory, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------- progress bar

class Progress {
  #stream = process.stderr;
  #tty = Boolean(process.stderr.isTTY);
  #total;
  #started = performance.now();
  #lastDecile = -1;
  #lastPrinted = -1;
  #lastDraw = 0;

  constructor(total) {
    this.#total = total;
  }

  update(done, bytes, force = false) {
    const fraction = this.#total === 0 ? 1 : done / this.#total;
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? bytes / MiB / seconds : 0;
    if (this.#tty) {
      const now = performance.now();
      if (!force && now - this.#lastDraw < 80) return;
      this.#lastDraw = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      this.#stream.write(
        `\r${bar} ${String(done).padStart(String(this.#total).length)}/${this.#total} frames ${(
          fraction * 100
        )
          .toFixed(0)
          .padStart(3)}%  ${rate.toFixed(0).padStart(5)} MiB/s  ${seconds.toFixed(1)} s `,
      );
    } else {
      // Plain lines for logs: one per tenth of the way, and the final count once.
      const decile = Math.floor(fraction * 10);
      if (done === this.#lastPrinted || (decile === this.#lastDecile && !force)) return;
      this.#lastDecile = decile;
      this.#lastPrinted = done;
      this.#stream.write(
        `progress: ${done}/${this.#total} frames (${(fraction * 100).toFixed(0)}%), ${rate.toFixed(0)} MiB/s, ${seconds.toFixed(1)} s\n`,
      );
    }
  }

  finish(done, bytes) {
    this.update(done, bytes, true);
    if (this.#tty) this.#stream.write('\n');
  }
}

// ---------------------------------------------------------------- workers

class WorkerPool {
  #workers = [];
  #idle = [];
  #waiting = [];
  #pending = new Map();
  #nextId = 0;

  constructor(size, store, perWorker) {
    const url = new URL('./demo-worker.mjs', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { workerData: { store } });
      worker.on('message', (result) => this.#done(worker, result));
      worker.on('error', (error) => {
        for (const { reject } of this.#pending.values()) reject(error);
        this.#pending.clear();
      });
      this.#workers.push(worker);
      // Each worker gets `perWorker` tasks at once: one resolving, the next already queued.
      for (let slot = 0; slot < perWorker; slot++) this.#idle.push(worker);
    }
  }

  /** Hands a task to a free worker slot; waits for one when all are busy (backpressure). */
  async submit(task) {
    while (this.#idle.length === 0) await new Promise((resolve) => this.#waiting.push(resolve));
    const worker = this.#idle.pop();
    const id = this.#nextId++;
    const result = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    worker.postMessage({ ...task, id });
    return { result };
  }

  #done(worker, result) {
    const pending = this.#pending.get(result.id);
    this.#pending.delete(result.id);
    this.#idle.push(worker);
    this.#waiting.shift()?.();
    pending?.resolve(result);
  }

  async close() {
    await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise((resolve) => {
            worker.once('exit', resolve);
            worker.postMessage({ type: 'close' });
          }),
      ),
    );
  }
}

// ---------------------------------------------------------------- the pipeline

/**
 * Runs demo-producer.mjs in its own thread and publishes the envelopes it sends over the port
 * into the broker, acknowledging each once the broker accepted it (backpressure across threads).
 */
function produce({ publisher, topic, options, store, totals, stop }) {
  const worker = new Worker(new URL('./demo-producer.mjs', import.meta.url), {
    workerData: {
      topic,
      count: options.count,
      size: options.size,
      batch: options.batch,
      blurryEvery: options.blurryEvery,
      store,
    },
  });
  stop.producer = worker;
  return new Promise((resolve, reject) => {
    worker.on('message', async (message) => {
      if (message.type === 'send') {
        try {
          await publisher.send(message.topic, message.envelope);
          worker.postMessage({ type: 'ack', id: message.id });
        } catch (error) {
          worker.postMessage({ type: 'ack', id: message.id, error: String(error) });
        }
      } else if (message.type === 'done') {
        Object.assign(totals, {
          produced: message.totals.produced,
          storeBytes: message.totals.storeBytes,
          producerPeakArrayBuffers: message.totals.peakArrayBuffers,
          producerPeakHeap: message.totals.peakHeap,
        });
        if (message.error) reject(new Error(`producer: ${message.error}`));
        else resolve();
      }
    });
    worker.on('error', reject);
  });
}

async function dispatch({ consumer, pool, totals, progress }) {
  const results = [];
  for await (const { value: reference, metadata } of consumer.iterWithMetadata()) {
    // `reference` is a ProxyReference: a key and a store config. The bytes stay in the store.
    totals.dispatched++;
    const { result } = await pool.submit({
      reference: reference.toJSON(),
      sha256: metadata.sha256,
    });
    results.push(
      result.then((outcome) => {
        if (outcome.ok) {
          totals.verified++;
          totals.workerBytes += outcome.bytes;
          totals.resolveCopiedBytes += outcome.copied;
        } else {
          totals.failed++;
          totals.failures.push(`frame ${metadata.frame}: ${outcome.error ?? 'checksum mismatch'}`);
        }
        progress.update(totals.verified + totals.failed + totals.dropped, totals.workerBytes);
      }),
    );
  }
  await Promise.all(results);
}

async function main() {
  let options;
  try {
    options = readOptions();
  } catch (error) {
    process.stderr.write(`${error.message}\n\n${HELP}`);
    return 2;
  }

  const topic = 'frames';
  const store = await createStore(options);
  const totals = {
    produced: 0,
    dispatched: 0,
    dropped: 0,
    verified: 0,
    failed: 0,
    failures: [],
    brokerBytes: 0,
    brokerMessages: 0,
    storeBytes: 0,
    workerBytes: 0,
    resolveCopiedBytes: 0,
  };
  const stop = { requested: false, signal: undefined, producer: undefined };
  const memory = new MemoryWatch();
  let transport;
  let pool;
  try {
    transport = await createTransport(options.broker, topic);
  } catch (error) {
    memory.stop();
    await store.remove();
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const onSignal = (signal) => {
    if (stop.requested) {
      process.stderr.write(`\n${signal} again: exiting without cleanup\n`);
      process.exit(1);
    }
    stop.requested = true;
    stop.signal = signal;
    stop.producer?.postMessage({ type: 'stop' });
    process.stderr.write(
      `\n${signal}: finishing the frames already sent, then stopping (again to force)\n`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  process.stderr.write(
    `proxystream demo: ${options.count} frames × ${mib(options.size)}, batch ${options.batch}, ` +
      `${options.workers} workers, ${transport.name}, ${store.description}\n`,
  );

  const started = performance.now();
  const progress = new Progress(options.count);
  const consumer = new StreamConsumer(transport.subscriber, {
    topics: [topic],
    stores: store.factories,
    // Drop blurry frames; the consumer evicts their one-shot data from the store.
    filter: (metadata) => {
      const drop = isBlurry(metadata);
      if (drop) {
        totals.dropped++;
        progress.update(totals.verified + totals.failed + totals.dropped, totals.workerBytes);
      }
      return drop;
    },
  });
  pool = new WorkerPool(options.workers, store.workerData, 2);

  let failure;
  try {
    await Promise.all([
      produce({
        publisher: countingPublisher(transport.publisher, totals),
        topic,
        options,
        store: store.workerData,
        totals,
        stop,
      }),
      dispatch({ consumer, pool, totals, progress }),
    ]);
  } catch (error) {
    failure = error;
  } finally {
    await stop.producer?.terminate();
    progress.finish(totals.verified + totals.failed + totals.dropped, totals.workerBytes);
    await consumer.close({ stores: true }).catch(() => undefined);
    await pool?.close();
    await transport.close();
    memory.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  const left = await store.leftover();
  if (!options.keep) await store.remove();
  // Copies of a frame's bytes after the producer made it: into the store at put, and out of it
  // at resolve (what the workers reported: none when the resolved view is the shared memory).
  const putCopy = totals.storeBytes / Math.max(1, totals.produced);
  const resolveCopy = totals.resolveCopiedBytes / Math.max(1, totals.verified);

  const lines = [
    '',
    'proxystream demo: summary',
    `  frames            ${totals.produced} produced, ${totals.dispatched} dispatched, ${totals.dropped} dropped as blurry (evicted), ${totals.verified} verified by workers, ${totals.failed} failed`,
    `  through broker    ${kib(totals.brokerBytes)} in ${totals.brokerMessages} messages (${(totals.brokerBytes / Math.max(1, totals.produced)).toFixed(0)} bytes per frame)`,
    `  through store     ${mib(totals.storeBytes)} (${(totals.storeBytes / Math.max(1, totals.brokerBytes)).toFixed(0)}× the broker's bytes)`,
    `  resolved          ${mib(totals.workerBytes)} in ${options.workers} worker threads`,
    `  bytes copied      ${size(Math.round(putCopy + resolveCopy))} per frame: ${size(Math.round(putCopy))} at put (into the store), ${size(Math.round(resolveCopy))} at resolve (${store.resolveCopy})`,
    `  time              ${seconds.toFixed(2)} s: ${(totals.produced / seconds).toFixed(1)} frames/s, ${(totals.storeBytes / MiB / seconds).toFixed(0)} MiB/s into the store`,
    `  dispatcher peak   heap ${mib(memory.peakHeap)}, array buffers ${mib(memory.peakArrayBuffers)} (its own thread${store.poolBytes === undefined ? '' : `; counts the shared pool's ${mib(store.poolBytes)}`})`,
    `  producer peak     heap ${mib(totals.producerPeakHeap ?? 0)}, array buffers ${mib(totals.producerPeakArrayBuffers ?? 0)}`,
    `  process peak RSS  ${mib(memory.peakRss)} (all threads)`,
    `  store afterwards  ${left.text}${store.directory === undefined ? '' : options.keep ? ` in ${store.directory}` : ' (directory removed)'}`,
  ];
  if (totals.failures.length > 0)
    lines.push(`  failures          ${totals.failures.slice(0, 5).join('; ')}`);
  if (failure) lines.push(`  error             ${failure.stack ?? failure}`);
  if (stop.signal) lines.push(`  stopped by        ${stop.signal}`);
  process.stdout.write(`${lines.join('\n')}\n`);

  if (failure || totals.failed > 0) return 1;
  if (stop.signal) return stop.signal === 'SIGINT' ? 130 : 143;
  const expected =
    options.count - (options.blurryEvery > 0 ? Math.floor(options.count / options.blurryEvery) : 0);
  if (totals.verified !== expected || left.count !== 0) {
    process.stderr.write(`expected ${expected} verified frames and an empty store\n`);
    return 1;
  }
  return 0;
}

const isBlurry = metadataMatches({ quality: 'blurry' });

async function countFiles(directory) {
  return (await readdir(directory).catch(() => [])).length;
}

process.exitCode = await main();
