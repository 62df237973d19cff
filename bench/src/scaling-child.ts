import { createServer, type Socket } from 'node:net';
import type { Subscriber } from '@proxystream/protocols';
import { RedisQueueSubscriber, RedisStoreFactory } from '@proxystream/shim-redis';
import { FileStoreFactory, isProxyReference, StreamConsumer } from '@proxystream/stream';
import { type Frame, FrameKind, FrameReader, writeFrame } from './scaling-frames.js';

/** Settings of the dispatcher process, passed as JSON in argv[2]. */
export interface DispatcherSettings {
  readonly redisUrl: string;
  readonly allowedRedisHosts: readonly string[];
  readonly allowedRedisPrefixes: readonly string[];
  readonly fileRoot: string;
  /** Worker connections to wait for before reporting `workersReady`. */
  readonly workers: number;
}

/** One run, sent by the generator over IPC. */
export interface DispatcherRun {
  readonly topic: string;
  readonly count: number;
  /** Most tasks handed to workers and not yet done. */
  readonly inFlight: number;
  /** The generator hears of completed tasks every this many completions. */
  readonly creditEvery: number;
  /** Messages the queue subscriber moves per read. */
  readonly readCount: number;
  /** Item size: a worker that reports another length fails the run. */
  readonly size: number;
}

/** What the dispatcher reports at the end of a run. */
export interface DispatcherReport {
  readonly completed: number;
  readonly seconds: number;
  /** Broker message bytes the dispatcher received. */
  readonly brokerBytes: number;
  /** Task payload bytes the dispatcher wrote to worker sockets (item bytes or reference JSON). */
  readonly sentBytes: number;
  /** Peak of the dispatcher's heapUsed + external during the run, bytes. */
  readonly dispatcherPeak: number;
  /** Same at the start of the run, bytes. */
  readonly dispatcherStart: number;
  /** Peak RSS of the dispatcher process during the run, bytes. */
  readonly dispatcherRss: number;
  /** Largest RSS a worker reported with a completed task, bytes. */
  readonly workerRss: number;
  readonly error?: string;
}

/** Messages from the dispatcher to the generator (IPC). */
export type DispatcherMessage =
  | { readonly listening: number }
  | { readonly workersReady: true }
  | { readonly ready: true }
  | { readonly completed: number }
  | { readonly report: DispatcherReport };

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
    [Symbol.asyncDispose]: () => subscriber.close(),
    [Symbol.asyncIterator]() {
      return wrapped;
    },
  };
  return wrapped;
}

interface WorkerLink {
  readonly socket: Socket;
  outstanding: number;
}

/** State of the run in progress, updated by the workers' frames. */
interface RunState {
  readonly run: DispatcherRun;
  inFlight: number;
  completed: number;
  workerRss: number;
  failure: string | undefined;
  wake: (() => void) | undefined;
}

const send = (message: DispatcherMessage): void => {
  process.send!(message);
};

// The dispatcher of the scaling section, one process for the whole section, as a task system's
// dispatcher is: it reads the stream (StreamConsumer over a Redis list queue), keeps `inFlight`
// tasks on the worker processes connected over TCP (each task to the worker with the fewest
// outstanding), and writes each task as one frame: the item's bytes for inline items (direct),
// the reference's JSON for stored items, which it never resolves.
async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2]!) as DispatcherSettings;
  const links: WorkerLink[] = [];
  let state: RunState | undefined;
  const wake = (s: RunState): void => {
    const w = s.wake;
    s.wake = undefined;
    w?.();
  };
  const onFrame = (link: WorkerLink, frame: Frame): void => {
    link.outstanding--;
    const s = state;
    if (s === undefined) return;
    if (frame.kind === FrameKind.failed) s.failure ??= frame.payload.toString('utf8');
    else {
      const length = frame.payload.readDoubleBE(0);
      if (length !== s.run.size) s.failure ??= `a worker got ${length} bytes, not ${s.run.size}`;
      const rss = frame.payload.readDoubleBE(8);
      if (rss > s.workerRss) s.workerRss = rss;
    }
    s.inFlight--;
    s.completed++;
    // Credit for the generator: it never runs more than a few items ahead of completion.
    if (s.completed % s.run.creditEvery === 0 || s.completed === s.run.count) {
      send({ completed: s.completed });
    }
    wake(s);
  };
  let workersReady!: () => void;
  const allConnected = new Promise<void>((resolve) => {
    workersReady = resolve;
  });
  const server = createServer({ noDelay: true }, (socket) => {
    const link: WorkerLink = { socket, outstanding: 0 };
    const reader = new FrameReader((frame) => onFrame(link, frame));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const s = state;
      if (s !== undefined) {
        s.failure ??= 'a worker process closed its connection';
        wake(s);
      }
    });
    links.push(link);
    if (links.length === settings.workers) workersReady();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  send({ listening: typeof address === 'object' && address !== null ? address.port : 0 });
  await allConnected;
  send({ workersReady: true });

  const factories = [
    new RedisStoreFactory({
      allowedServers: settings.allowedRedisHosts,
      allowedPrefixes: settings.allowedRedisPrefixes,
    }),
    new FileStoreFactory({ allowedRoots: [settings.fileRoot] }),
  ];
  const usage = () => {
    const m = process.memoryUsage();
    return { own: m.heapUsed + m.external, rss: m.rss };
  };
  let next = 0;
  const pick = (): WorkerLink => {
    // Fewest outstanding tasks; ties go round robin.
    let best = links[next]!;
    for (let k = 1; k < links.length; k++) {
      const link = links[(next + k) % links.length]!;
      if (link.outstanding < best.outstanding) best = link;
    }
    next = (links.indexOf(best) + 1) % links.length;
    return best;
  };

  const runOne = async (run: DispatcherRun): Promise<DispatcherReport> => {
    const s: RunState = {
      run,
      inFlight: 0,
      completed: 0,
      workerRss: 0,
      failure: undefined,
      wake: undefined,
    };
    state = s;
    const tally = { bytes: 0 };
    const subscriber = await RedisQueueSubscriber.create(run.topic, {
      connection: settings.redisUrl,
      count: run.readCount,
    });
    const consumer = new StreamConsumer<Uint8Array>(counting(subscriber, tally), {
      topics: [run.topic],
      stores: factories,
    });
    const first = usage();
    let dispatcherPeak = first.own;
    let dispatcherRss = first.rss;
    const sampler = setInterval(() => {
      const m = usage();
      if (m.own > dispatcherPeak) dispatcherPeak = m.own;
      if (m.rss > dispatcherRss) dispatcherRss = m.rss;
    }, 5);
    send({ ready: true });
    let start = 0;
    let posted = 0;
    let sentBytes = 0;
    try {
      for await (const item of consumer) {
        if (start === 0) start = performance.now();
        while (s.inFlight >= run.inFlight && s.failure === undefined) {
          await new Promise<void>((resolve) => {
            s.wake = resolve;
          });
        }
        if (s.failure !== undefined) break;
        const link = pick();
        link.outstanding++;
        s.inFlight++;
        if (isProxyReference(item)) {
          const reference = Buffer.from(JSON.stringify(item.toJSON()));
          sentBytes += reference.byteLength;
          writeFrame(link.socket, FrameKind.taskReference, posted, reference);
        } else {
          sentBytes += item.value.byteLength;
          writeFrame(link.socket, FrameKind.taskBytes, posted, item.value);
        }
        posted++;
        if (posted >= run.count) break;
      }
      while (s.completed < posted && s.failure === undefined) {
        await new Promise<void>((resolve) => {
          s.wake = resolve;
        });
      }
    } catch (error) {
      s.failure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    await consumer.close({ stores: true }).catch(() => undefined);
    // Tasks of a failed run may still be running; their frames must not count in the next run.
    while (s.completed < posted && links.every((l) => !l.socket.destroyed)) {
      await new Promise<void>((resolve) => {
        s.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    state = undefined;
    return {
      completed: s.completed,
      seconds,
      brokerBytes: tally.bytes,
      sentBytes,
      dispatcherPeak,
      dispatcherStart: first.own,
      dispatcherRss,
      workerRss: s.workerRss,
      ...(s.failure === undefined ? {} : { error: s.failure }),
    };
  };

  let queue: Promise<void> = Promise.resolve();
  process.on('message', (message: { run?: DispatcherRun; exit?: true }) => {
    if (message.exit) {
      for (const link of links) link.socket.end();
      server.close();
      setTimeout(() => process.exit(0), 200).unref();
      return;
    }
    if (message.run !== undefined) {
      const run = message.run;
      queue = queue.then(async () => send({ report: await runOne(run) }));
    }
  });
}

main().catch((error: unknown) => {
  process.send?.({ report: { error: String(error) } });
  process.exit(1);
});
