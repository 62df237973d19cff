#!/usr/bin/env node
// The proxystream dispatcher demo.
//
// A producer streams large synthetic frames with metadata: the bytes go to a store, only
// ~200-byte events go through the broker. The dispatcher consumes the events as references
// (never touching the bytes), drops the "blurry" frames by metadata (their stored data is
// evicted), and hands the serialised references to worker_threads workers (demo-worker.mjs) that
// resolve them and verify a checksum.
//
// The broker is the embedded in-process one, the worker-threads one, Redis, NATS, Kafka or
// ZeroMQ (--broker); the store a directory, this thread's memory, a shared-memory pool of this
// process's threads, Redis or the NATS object store (--store). With a network broker (or ZeroMQ)
// the producer, the dispatcher and every worker open their own publisher, subscriber or store
// from serialisable settings (demo-transports.mjs), and the two ends can run in two processes
// (--role).
//
//   pnpm build && node examples/demo.mjs [--count 200] [--size 4MiB] [--broker redis://127.0.0.1:6379 --mode list]
//
// Run `node examples/demo.mjs --help` for every option.

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import {
  InProcessBroker,
  metadataMatches,
  SharedMemoryPool,
  StoreCache,
  StreamConsumer,
} from '@proxystream/stream';
import { produceFrames, producerTotals } from './demo-producer.mjs';
import {
  BrokerUnavailableError,
  brokerLabel,
  brokerName,
  CROSS_PROCESS_STORES,
  cleanupTopic,
  openPublisher,
  openStore,
  openSubscriber,
  openThreadsBroker,
  parseBroker,
  prepareStore,
  removeStore,
  STORE_KINDS,
  storeFactories,
  storeLabel,
  storeLeftover,
  storeSettings,
  UsageError,
} from './demo-transports.mjs';
import { verifyFrame } from './demo-worker.mjs';

const HELP = `Usage: bash scripts/demo.sh [options]     (or, after pnpm build: node examples/demo.mjs [options])

  --count <n>        frames to stream                          (default 200)
  --size <bytes>     bytes per frame: 4MiB, 512KiB, 1000000    (default 4MiB)
  --workers <n>      worker threads resolving references       (default min(4, cores))
  --batch <n>        frames per broker message (batchSize)     (default 4)
  --blurry-every <n> every n-th frame is tagged blurry and dropped by the dispatcher (default 10; 0: none)

  --broker <where>   the broker of the events (the frames' bytes never go through it):
                       inproc (default)          the embedded in-process broker of this process
                       redis://host:port[/db]    Redis, with --mode list (default: list queue,
                                                 acknowledged), pubsub (fan-out, nothing kept) or
                                                 streams (Redis Streams, consumer group)
                       nats://host:port          NATS, with --mode jetstream (default: persistent,
                                                 acknowledged) or core (fan-out, nothing kept)
                       kafka://host:port[,…]     Kafka (consumer group, offsets committed)
                       zmq://host:port           ZeroMQ, no broker: the dispatcher binds
                                                 tcp://host:port, the producer connects; with
                                                 --mode pushpull (default: PUSH/PULL, backpressure)
                                                 or pubsub (fan-out: frames sent before the
                                                 subscription reached the producer are lost)
                       threads                   the worker-threads broker of @proxystream/stream:
                                                 the producer's thread reaches it through a
                                                 MessagePort (not with --role)
                     A local Redis, NATS or Kafka: bash scripts/brokers.sh start redis|nats|kafka
  --mode <mode>      the broker's mode, see --broker

  --store <kind>     where the frames' bytes go:
                       file (default)  one file per frame in <tmp>/<topic>, which every
                                       thread and process of this machine can open
                       memory          this thread's memory: the producer runs in the dispatcher's
                                       thread and the dispatcher resolves the frames itself
                                       (--workers is ignored); not with --role
                       shared          a SharedMemoryPool of this process's threads (the producer
                                       and the workers are worker_threads): a resolve returns a
                                       view of the producer's bytes, not a copy; not with --role
                       redis           keys <topic>:* on the --broker's Redis (a redis:// one),
                                       else REDIS_URL, else 127.0.0.1:6379
                       nats            the object-store bucket <topic> on the --broker's NATS
                                       (a nats:// one), else NATS_URL, else 127.0.0.1:4222

  --role <role>      both (default): producer and dispatcher in this process. producer or
                     dispatcher: one end only, for two terminals; needs a network broker or zmq,
                     and a file, redis or nats store; the same --broker, --mode, --store and
                     --topic in both. Start the dispatcher first: it is subscribed once it prints
                     "waiting for a producer" (on a fan-out broker, frames sent before are lost).
  --topic <name>     letters, digits, dashes (default proxystream-demo-<random> for one process,
                     proxystream-demo with --role). The dispatcher deletes what the topic left
                     on the broker and in the store when it starts (a --topic given or --role)
                     and when it ends. The store's names (<topic> above) get proxystream-demo-
                     in front unless the topic starts so
  --keep             keep the store's data (its directory, keys or bucket) instead of deleting it
  --help             this text

The summary (stdout) ends with "result  ok: …" when every frame was verified and the store is
empty afterwards; the exit status is then 0 (1: a frame failed, 2: usage, 3: broker unreachable,
130/143: stopped by SIGINT/SIGTERM).
`;

// ---------------------------------------------------------------- options

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|kb|mib|mb|gib|gb)?$/i.exec(String(text).trim());
  if (!match)
    throw new UsageError(`--size: cannot read "${text}" (try 4MiB, 512KiB or a number of bytes)`);
  const units = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  return Math.round(Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]);
}

function positive(name, text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`--${name}: expected a positive integer, got "${text}"`);
  return value;
}

const ROLES = ['both', 'producer', 'dispatcher'];

function readOptions() {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200' },
      size: { type: 'string', default: '4MiB' },
      workers: { type: 'string', default: String(Math.min(4, availableParallelism())) },
      batch: { type: 'string', default: '4' },
      'blurry-every': { type: 'string', default: '10' },
      store: { type: 'string', default: 'file' },
      broker: { type: 'string', default: 'inproc' },
      mode: { type: 'string' },
      role: { type: 'string', default: 'both' },
      topic: { type: 'string' },
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
    throw new UsageError('--blurry-every: expected an integer >= 0');
  if (!STORE_KINDS.includes(values.store))
    throw new UsageError(`--store: expected ${STORE_KINDS.join(', ')}; got "${values.store}"`);
  if (!ROLES.includes(values.role))
    throw new UsageError(`--role: expected ${ROLES.join(', ')}; got "${values.role}"`);
  const broker = parseBroker(values.broker, values.mode);
  const split = values.role !== 'both';
  if (split && (broker.kind === 'inproc' || broker.kind === 'threads'))
    throw new UsageError(
      `--role ${values.role}: the ${broker.kind === 'threads' ? 'worker-threads' : 'in-process'} broker lives in one process; give a --broker redis://…, nats://…, kafka://… or zmq://…`,
    );
  if (split && !CROSS_PROCESS_STORES.includes(values.store))
    throw new UsageError(
      `--role ${values.role}: a ${values.store} store is one process's; use --store ${CROSS_PROCESS_STORES.join(', ')}`,
    );
  const topic =
    values.topic ??
    (split ? 'proxystream-demo' : `proxystream-demo-${randomBytes(4).toString('hex')}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/.test(topic))
    throw new UsageError(`--topic ${topic}: letters, digits and dashes, at most 100`);
  const frameSize = parseSize(values.size);
  if (values.store === 'shared' && frameSize < 1)
    throw new UsageError('--size: a shared-memory pool needs frames of at least 1 byte');
  return {
    count: positive('count', values.count),
    size: frameSize,
    workers: positive('workers', values.workers),
    batch: positive('batch', values.batch),
    blurryEvery,
    store: values.store,
    broker,
    role: values.role,
    topic,
    fixedTopic: values.topic !== undefined || split,
    keep: values.keep,
    // What the other terminal runs, for the dispatcher's prompt.
    argv: { broker: values.broker, mode: values.mode, store: values.store, topic },
  };
}

// ---------------------------------------------------------------- measuring

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

  /** The number of frames to expect, once the first one told (a split run's dispatcher). */
  set total(total) {
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

// ---------------------------------------------------------------- resolving

/** Worker threads that open the store themselves, from its settings, and verify frames. */
class WorkerPool {
  #workers = [];
  #idle = [];
  #waiting = [];
  #pending = new Map();
  #nextId = 0;

  constructor(size, store, perWorker) {
    const url = new URL('./demo-worker.mjs', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { workerData: { demo: 'worker', store } });
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

  get description() {
    return `${this.#workers.length} worker threads`;
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

/** The memory store's resolver: this thread verifies the frames, a few at a time. */
class ThreadResolver {
  #stores;
  #limit;
  #running = 0;
  #waiting = [];

  constructor(factories, limit) {
    this.#stores = new StoreCache(factories);
    this.#limit = limit;
  }

  get description() {
    return 'the dispatcher thread';
  }

  async submit(task) {
    while (this.#running >= this.#limit)
      await new Promise((resolve) => this.#waiting.push(resolve));
    this.#running++;
    const result = verifyFrame(task, this.#stores).finally(() => {
      this.#running--;
      this.#waiting.shift()?.();
    });
    return { result };
  }

  close() {
    return this.#stores.close();
  }
}

// ---------------------------------------------------------------- the pipeline

/**
 * The producer of a one-process run: a thread of its own (demo-producer.mjs) that opens its own
 * publisher and store, or, with the in-process broker, publishes the envelopes it sends over the
 * port into the broker, acknowledging each once the broker accepted it (backpressure across
 * threads). With --store memory it runs in this thread.
 */
async function produce({ options, inproc, threads, store, totals, stop }) {
  const run = {
    topic: options.topic,
    count: options.count,
    size: options.size,
    batch: options.batch,
    blurryEvery: options.blurryEvery,
  };
  if (store.kind === 'memory') {
    const publisher = inproc
      ? inproc.publisher()
      : await openPublisher(
          threads ? { ...options.broker, connection: threads.broker } : options.broker,
        );
    const producerStore = await openStore(store);
    const counted = producerTotals();
    try {
      await produceFrames({
        ...run,
        publisher,
        store: producerStore,
        totals: counted,
        shouldStop: () => stop.requested,
      });
    } finally {
      Object.assign(totals, {
        produced: counted.produced,
        storeBytes: counted.storeBytes,
        brokerBytes: counted.brokerBytes,
        brokerMessages: counted.brokerMessages,
      });
      await producerStore.close();
    }
    return;
  }
  // The worker-threads broker is reached through a handle: a MessagePort, moved to the thread.
  const handle = threads?.broker.handle();
  const worker = new Worker(new URL('./demo-producer.mjs', import.meta.url), {
    workerData: {
      demo: 'producer',
      broker: handle ? { ...options.broker, connection: handle } : options.broker,
      store,
      run,
    },
    transferList: handle ? [handle.port] : [],
  });
  stop.producer = worker;
  const publisher = inproc?.publisher();
  await new Promise((resolve, reject) => {
    worker.on('message', async (message) => {
      if (message.type === 'send') {
        try {
          await publisher.send(message.topic, message.envelope);
          worker.postMessage({ type: 'ack', id: message.id });
        } catch (error) {
          worker.postMessage({ type: 'ack', id: message.id, error: String(error) });
        }
      } else if (message.type === 'done') {
        const counted = message.totals;
        Object.assign(totals, {
          produced: counted.produced,
          storeBytes: counted.storeBytes,
          brokerBytes: counted.brokerBytes,
          brokerMessages: counted.brokerMessages,
          producerPeakArrayBuffers: counted.peakArrayBuffers,
          producerPeakHeap: counted.peakHeap,
        });
        if (message.error) reject(new Error(`producer: ${message.error}`));
        else resolve();
      }
    });
    worker.on('error', reject);
  });
}

async function dispatch({ consumer, resolver, totals, progress }) {
  const results = [];
  for await (const { value: reference, metadata } of consumer.iterWithMetadata()) {
    // `reference` is a ProxyReference: a key and a store config. The bytes stay in the store.
    totals.dispatched++;
    noteFrame(totals, metadata, progress);
    const { result } = await resolver.submit({
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

/** Counts a frame the dispatcher saw and learns from it how many the producer sends. */
function noteFrame(totals, metadata, progress) {
  totals.received++;
  totals.firstFrameAt ??= performance.now();
  if (typeof metadata.frame === 'number')
    totals.lastFrame = Math.max(totals.lastFrame, metadata.frame);
  if (typeof metadata.of === 'number' && metadata.of !== totals.expectedFrames) {
    totals.expectedFrames = metadata.of;
    progress.total = metadata.of;
  }
}

const isBlurry = metadataMatches({ quality: 'blurry' });

function newTotals() {
  return {
    produced: 0,
    received: 0,
    expectedFrames: undefined,
    firstFrameAt: undefined,
    lastFrame: -1,
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
}

/** Signals: the first stops the run after the frames already sent, a second exits at once. */
function onSignals(stop, what) {
  const onSignal = (signal) => {
    if (stop.requested) {
      process.stderr.write(`\n${signal} again: exiting without cleanup\n`);
      process.exit(1);
    }
    stop.requested = true;
    stop.signal = signal;
    stop.producer?.postMessage({ type: 'stop' });
    stop.onStop?.();
    process.stderr.write(`\n${signal}: ${what}, then stopping (again to force)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

const signalStatus = (signal) => (signal === 'SIGINT' ? 130 : 143);

// ---------------------------------------------------------------- roles

/** `--role producer`: this process produces; a dispatcher elsewhere consumes. */
async function runProducer(options, store) {
  const label = await brokerLabel(options.broker);
  process.stderr.write(
    `proxystream demo producer: ${options.count} frames × ${mib(options.size)}, batch ${options.batch}, ` +
      `${label}, topic ${options.topic}, ${storeLabel(store)}\n`,
  );
  const stop = { requested: false };
  const offSignals = onSignals(stop, 'ending the topic');
  const totals = producerTotals();
  const started = performance.now();
  const progress = new Progress(options.count);
  const timer = setInterval(() => progress.update(totals.produced, totals.storeBytes), 100);
  let failure;
  let producerStore;
  try {
    const publisher = await openPublisher(options.broker);
    producerStore = await openStore(store);
    await produceFrames({
      topic: options.topic,
      count: options.count,
      size: options.size,
      batch: options.batch,
      blurryEvery: options.blurryEvery,
      publisher,
      store: producerStore,
      totals,
      shouldStop: () => stop.requested,
    });
  } catch (error) {
    if (error instanceof BrokerUnavailableError) throw error;
    failure = error;
  } finally {
    clearInterval(timer);
    progress.finish(totals.produced, totals.storeBytes);
    await producerStore?.close().catch(() => undefined);
    offSignals();
  }
  const seconds = (performance.now() - started) / 1000;
  const lines = [
    '',
    'proxystream demo producer: summary',
    `  frames            ${totals.produced} produced of ${options.count}`,
    `  broker            ${label}, topic ${options.topic}`,
    `  through broker    ${kib(totals.brokerBytes)} in ${totals.brokerMessages} messages (${(totals.brokerBytes / Math.max(1, totals.produced)).toFixed(0)} bytes per frame)`,
    `  through store     ${mib(totals.storeBytes)} into the ${storeLabel(store)}`,
    `  time              ${seconds.toFixed(2)} s: ${(totals.produced / seconds).toFixed(1)} frames/s`,
    `  producer peak     heap ${mib(totals.peakHeap)}, array buffers ${mib(totals.peakArrayBuffers)}`,
  ];
  if (failure) lines.push(`  error             ${failure.stack ?? failure}`);
  if (stop.signal) lines.push(`  stopped by        ${stop.signal}`);
  lines.push(
    failure
      ? '  result            FAILED'
      : `  result            ok: ${totals.produced} frames sent; the dispatcher's summary says whether each was verified`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (failure) return 1;
  if (stop.signal) return signalStatus(stop.signal);
  return 0;
}

/** `--role both` and `--role dispatcher`: consumes, dispatches to workers, checks. */
async function runDispatcher(options, store, pool) {
  const split = options.role === 'dispatcher';
  const label = await brokerLabel(options.broker);
  const name = await brokerName(options.broker);
  const totals = newTotals();
  const memory = new MemoryWatch();
  const stop = { requested: false, signal: undefined, producer: undefined };

  let inproc;
  let threads;
  let subscriber;
  try {
    // A topic with a fixed name (--role, --topic) may hold what a killed run left, on the
    // broker and in the store named after it: that goes first.
    if (options.fixedTopic) {
      await cleanupTopic(options.broker, options.topic);
      await removeStore(store);
    }
    await prepareStore(store);
    if (options.broker.kind === 'inproc') {
      // A small per-subscriber buffer: when the workers fall behind, the dispatcher stops
      // reading, the broker fills and the producer's `send` waits. Frames in store stay bounded.
      inproc = new InProcessBroker({ capacity: 4 });
      subscriber = await inproc.subscriber(options.topic);
    } else if (options.broker.kind === 'threads') {
      threads = await openThreadsBroker(options.topic);
      subscriber = threads.subscriber;
    } else {
      subscriber = await openSubscriber(options.broker, options.topic);
    }
  } catch (error) {
    memory.stop();
    await inproc?.close();
    await threads?.broker.close();
    if (!options.keep) await removeStore(store).catch(() => undefined);
    throw error;
  }

  const resolver =
    store.kind === 'memory'
      ? new ThreadResolver(await storeFactories(store), 2 * options.workers)
      : new WorkerPool(options.workers, store, 2);
  process.stderr.write(
    `proxystream demo${split ? ' dispatcher' : ''}: ${split ? 'frames from the producer' : `${options.count} frames × ${mib(options.size)}, batch ${options.batch}`}, ` +
      `${resolver.description}, ${label}, topic ${options.topic}, ${storeLabel(store)}\n`,
  );

  const started = performance.now();
  const progress = new Progress(options.count);
  const consumer = new StreamConsumer(subscriber, {
    topics: [options.topic],
    stores: await storeFactories(store),
    // Drop blurry frames; the consumer evicts their one-shot data from the store.
    filter: (metadata) => {
      const drop = isBlurry(metadata);
      if (drop) {
        totals.dropped++;
        noteFrame(totals, metadata, progress);
        progress.update(totals.verified + totals.failed + totals.dropped, totals.workerBytes);
      }
      return drop;
    },
  });
  // A split dispatcher has no producer to stop: a signal ends its iteration instead.
  if (split) stop.onStop = () => consumer.close().catch(() => undefined);
  const offSignals = onSignals(
    stop,
    split ? 'finishing the frames already received' : 'finishing the frames already sent',
  );
  if (split) {
    const { broker, mode, store: storeKind, topic } = options.argv;
    process.stderr.write(
      `waiting for a producer on topic ${topic}; in another terminal run:\n` +
        `  bash scripts/demo.sh --role producer --broker ${broker}${mode === undefined ? '' : ` --mode ${mode}`} --store ${storeKind} --topic ${topic}\n`,
    );
  }

  let failure;
  try {
    await Promise.all([
      split ? undefined : produce({ options, inproc, threads, store, totals, stop }),
      dispatch({ consumer, resolver, totals, progress }),
    ]);
  } catch (error) {
    failure = error;
  } finally {
    await stop.producer?.terminate();
    progress.finish(totals.verified + totals.failed + totals.dropped, totals.workerBytes);
    await consumer.close({ stores: true }).catch(() => undefined);
    await resolver.close();
    await inproc?.close();
    await threads?.broker.close();
    memory.stop();
    offSignals();
  }
  // A split dispatcher waited for its producer: its time starts at the first frame.
  const seconds = (performance.now() - (split ? (totals.firstFrameAt ?? started) : started)) / 1000;
  let left;
  try {
    left = await storeLeftover(store, pool);
    if (!options.keep) await removeStore(store);
    await cleanupTopic(options.broker, options.topic);
  } catch (error) {
    failure ??= error;
    left ??= { count: Number.NaN, text: `not counted (${error.message})` };
  }
  // Copies of a frame's bytes after the producer made it: into the store at put, and out of it
  // at resolve (what the workers reported: none when the resolved view is the shared memory).
  const produced = split ? totals.received : totals.produced;
  const putCopy = totals.storeBytes / Math.max(1, totals.produced);
  const resolveCopy = totals.resolveCopiedBytes / Math.max(1, totals.verified);
  const inStore = split
    ? totals.workerBytes + (totals.workerBytes / Math.max(1, totals.verified)) * totals.dropped
    : totals.storeBytes;

  const lines = [
    '',
    'proxystream demo: summary',
    `  frames            ${produced} produced, ${totals.dispatched} dispatched, ${totals.dropped} dropped as blurry (evicted), ${totals.verified} verified by workers, ${totals.failed} failed`,
    `  broker            ${label}, topic ${options.topic}`,
    split
      ? '  through broker    counted by the producer (see its summary)'
      : `  through broker    ${kib(totals.brokerBytes)} in ${totals.brokerMessages} messages (${(totals.brokerBytes / Math.max(1, totals.produced)).toFixed(0)} bytes per frame)`,
    split
      ? `  through store     about ${mib(inStore)} (the frames received × their size)`
      : `  through store     ${mib(totals.storeBytes)} (${(totals.storeBytes / Math.max(1, totals.brokerBytes)).toFixed(0)}× the broker's bytes)`,
    `  resolved          ${mib(totals.workerBytes)} in ${resolver.description}`,
    split
      ? `  bytes copied      ${size(Math.round(resolveCopy))} per frame at resolve (${RESOLVE_COPY[store.kind]})`
      : `  bytes copied      ${size(Math.round(putCopy + resolveCopy))} per frame: ${size(Math.round(putCopy))} at put (into the store), ${size(Math.round(resolveCopy))} at resolve (${RESOLVE_COPY[store.kind]})`,
    `  time              ${seconds.toFixed(2)} s: ${(produced / seconds).toFixed(1)} frames/s, ${(inStore / MiB / seconds).toFixed(0)} MiB/s into the store`,
    `  dispatcher peak   heap ${mib(memory.peakHeap)}, array buffers ${mib(memory.peakArrayBuffers)} (its own thread${pool === undefined ? '' : `; counts the shared pool's ${mib(store.slots * store.slotBytes)}`})`,
    split
      ? '  producer peak     in the producer process (see its summary)'
      : `  producer peak     heap ${mib(totals.producerPeakHeap ?? memory.peakHeap)}, array buffers ${mib(totals.producerPeakArrayBuffers ?? memory.peakArrayBuffers)}${store.kind === 'memory' ? ' (the dispatcher thread)' : ''}`,
    `  process peak RSS  ${mib(memory.peakRss)} (all threads)`,
    `  store afterwards  ${left.text}${store.kind !== 'file' ? '' : options.keep ? ` in ${store.directory}` : ' (directory removed)'}`,
  ];
  if (totals.failures.length > 0)
    lines.push(`  failures          ${totals.failures.slice(0, 5).join('; ')}`);
  if (failure) lines.push(`  error             ${failure.stack ?? failure}`);
  if (stop.signal) lines.push(`  stopped by        ${stop.signal}`);

  // Every frame the producer made was seen (dispatched or dropped), each dispatched one was
  // verified, and the store holds nothing: the run's verdict, one line.
  const expected = split ? totals.expectedFrames : options.count;
  const problems = [];
  if (failure) problems.push('an error');
  if (totals.failed > 0) problems.push(`${totals.failed} frame(s) failed`);
  // A producer of a split run that was stopped ends the topic early: frames 0…n-1 of more.
  const stoppedEarly =
    split && totals.received < (expected ?? 0) && totals.received === totals.lastFrame + 1;
  if (stoppedEarly)
    lines.push(
      `  producer stopped  after ${totals.received} of ${expected} frames (it ended the topic)`,
    );
  if (!stop.signal && !stoppedEarly && totals.received !== expected)
    problems.push(`${totals.received} of ${expected ?? '?'} frames arrived`);
  if (!split && totals.received !== totals.produced)
    problems.push(`${totals.produced} produced but ${totals.received} arrived`);
  if (totals.verified !== totals.dispatched)
    problems.push(`${totals.verified} of ${totals.dispatched} dispatched frames verified`);
  if (left.count !== 0) problems.push(`the store is not empty (${left.text})`);
  lines.push(
    problems.length === 0
      ? `  result            ok: all ${totals.received} frames seen, ${totals.verified} verified, ${totals.dropped} dropped, store empty (${name}, ${store.kind} store)`
      : `  result            FAILED: ${problems.join('; ')}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  // A stopped run is judged on what it sent: nothing failed, the store is empty.
  if (problems.length > 0) return 1;
  return stop.signal ? signalStatus(stop.signal) : 0;
}

/** What a resolve copies, per store. */
const RESOLVE_COPY = {
  file: 'read from the file into a new buffer',
  memory: "the memory store's own bytes",
  shared: 'views into the SharedArrayBuffer',
  redis: 'received from Redis into a new buffer',
  nats: 'received from NATS in chunks into a new buffer',
};

async function main() {
  let options;
  try {
    options = readOptions();
  } catch (error) {
    if (!(error instanceof UsageError) && error.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      throw error;
    process.stderr.write(`${error.message}\n\n${HELP}`);
    return 2;
  }
  const store = storeSettings(options.store, options.broker, options.topic);
  let pool;
  if (store.kind === 'shared') {
    // Room for what can be in flight at once: batches waiting in the broker (capacity 4) and in
    // the producer, and two frames per worker; a fuller pool only makes the producer's put wait.
    const slots = 6 * options.batch + 2 * options.workers;
    pool = new SharedMemoryPool({ name: 'demo-frames', slotBytes: options.size, slots });
    // The pool's handle (its SharedArrayBuffers) goes to the producer and the workers in
    // workerData: it works because they are worker_threads of this process.
    Object.assign(store, { pool: pool.handle(), slots, slotBytes: options.size });
  }
  try {
    return options.role === 'producer'
      ? await runProducer(options, store)
      : await runDispatcher(options, store, pool);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    if (!(error instanceof BrokerUnavailableError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 3;
  }
}

// Exits when done: a network client that is slow to let go must not keep a finished demo alive.
process.exit(await main());
