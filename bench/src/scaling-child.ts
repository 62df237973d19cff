import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Subscriber } from '@proxystream/protocols';
import { RedisPubSubSubscriber, RedisStoreFactory } from '@proxystream/shim-redis';
import { FileStoreFactory, isProxyReference, StreamConsumer } from '@proxystream/stream';
import type { ScalingTask, ScalingWorkerData } from './scaling-worker.js';

/** Settings of one dispatcher run, passed as JSON in argv[2]. */
export interface DispatcherSettings {
  readonly topic: string;
  readonly redisUrl: string;
  readonly allowedRedisHosts: readonly string[];
  readonly fileRoot: string;
  readonly count: number;
  readonly workers: number;
  readonly inFlight: number;
  readonly sleepMs: number;
}

/** What the dispatcher reports at the end (one JSON line on stdout). */
export interface DispatcherReport {
  readonly completed: number;
  readonly seconds: number;
  /** Broker message bytes the dispatcher received. */
  readonly brokerBytes: number;
  /** Bytes the dispatcher posted to workers (object bytes or reference JSON). */
  readonly postedBytes: number;
  /** Peak of the dispatcher thread's heapUsed + external (its own isolate), bytes. */
  readonly dispatcherPeak: number;
  /** Same at start, bytes. */
  readonly dispatcherStart: number;
  /** Peak RSS of the whole process (dispatcher and workers), bytes. */
  readonly rssPeak: number;
  readonly error?: string;
}

/** Counts the bytes of every broker message the consumer reads. */
function counting(subscriber: Subscriber, tally: { bytes: number }): Subscriber {
  const iterator = subscriber[Symbol.asyncIterator]();
  const wrapped: Subscriber & AsyncIterator<Uint8Array> = {
    async next() {
      const result = await iterator.next();
      if (result.done !== true) tally.bytes += result.value.byteLength;
      return result;
    },
    async return() {
      await subscriber.close();
      return { done: true, value: undefined };
    },
    close: () => subscriber.close(),
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  };
  return wrapped;
}

// The dispatcher of the scaling section (a child process, so that its memory is its own): reads
// the stream, keeps `inFlight` tasks on `workers` worker threads (round robin), posts each the
// object's bytes (inline items) or the reference's JSON (stored items, not resolved here).
async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2]!) as DispatcherSettings;
  const workerData: ScalingWorkerData = {
    sleepMs: settings.sleepMs,
    allowedRedisHosts: settings.allowedRedisHosts,
    fileRoot: settings.fileRoot,
  };
  const workerFile = fileURLToPath(new URL('./scaling-worker.js', import.meta.url));
  const workers = Array.from(
    { length: settings.workers },
    () => new Worker(workerFile, { workerData }),
  );
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
  const tally = { bytes: 0 };
  const subscriber = await RedisPubSubSubscriber.create(settings.topic, {
    connection: settings.redisUrl,
  });
  const consumer = new StreamConsumer<Uint8Array>(counting(subscriber, tally), {
    topics: [settings.topic],
    stores: [
      new RedisStoreFactory({
        allowedHosts: settings.allowedRedisHosts,
        allowedPrefixes: ['bench:scaling:'],
      }),
      new FileStoreFactory({ allowedRoots: [settings.fileRoot] }),
    ],
  });
  const usage = () => {
    const m = process.memoryUsage();
    return { own: m.heapUsed + m.external, rss: m.rss };
  };
  const first = usage();
  let dispatcherPeak = first.own;
  let rssPeak = first.rss;
  const sampler = setInterval(() => {
    const m = usage();
    if (m.own > dispatcherPeak) dispatcherPeak = m.own;
    if (m.rss > rssPeak) rssPeak = m.rss;
  }, 5);
  // Ready: the generator (parent) starts publishing now.
  process.send!({ ready: true });

  let inFlight = 0;
  let completed = 0;
  let posted = 0;
  let postedBytes = 0;
  let failure: string | undefined;
  let wake: (() => void) | undefined;
  const done = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (const worker of workers) {
    worker.on('message', (message: { error?: string }) => {
      if (message.error !== undefined) failure ??= message.error;
      inFlight--;
      completed++;
      // Credit for the generator: it never runs more than a few items ahead of completion.
      if (completed % 4 === 0 || completed === settings.count) process.send!({ completed });
      done();
    });
    worker.on('error', (error) => {
      failure ??= String(error);
      done();
    });
  }
  let start = 0;
  let next = 0;
  for await (const item of consumer) {
    if (start === 0) start = performance.now();
    while (inFlight >= settings.inFlight && failure === undefined) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (failure !== undefined) break;
    let task: ScalingTask;
    if (isProxyReference(item)) {
      const reference = JSON.stringify(item.toJSON());
      postedBytes += Buffer.byteLength(reference);
      task = { id: posted, reference };
    } else {
      postedBytes += item.byteLength;
      task = { id: posted, bytes: item };
    }
    inFlight++;
    workers[next]!.postMessage(task);
    next = (next + 1) % workers.length;
    posted++;
    if (posted >= settings.count) break;
  }
  while (completed < posted && failure === undefined) {
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  const report: DispatcherReport = {
    completed,
    seconds,
    brokerBytes: tally.bytes,
    postedBytes,
    dispatcherPeak,
    dispatcherStart: first.own,
    rssPeak,
    ...(failure === undefined ? {} : { error: failure }),
  };
  process.send!({ report });
  await consumer.close({ stores: true }).catch(() => undefined);
  await Promise.all(workers.map((w) => w.terminate()));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.send?.({ report: { error: String(error) } });
    process.exit(1);
  },
);
