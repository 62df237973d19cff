import { type ChildProcess, execFile, fork } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Publisher } from '@proxystream/protocols';
import { FileStore, StreamProducer } from '@proxystream/stream';
import type { AnchorConsumerMessage, AnchorConsumerSettings } from './anchor-child.js';
import type { BenchConfig } from './config.js';
import { fixed, si, sizeLabel, spread, table } from './format.js';
import { freshTopic } from './pipe.js';
import { progress, type SectionResult } from './report.js';
import { loadShim } from './shims.js';
import { ratio, type Summary, summarize } from './stats.js';
import { KiB, MiB, payload, sendWindowed } from './timing.js';

/** Sends the pipelined proxystream contender keeps in flight (`maxBatchesInFlight`). */
const PIPELINED = 16;

const run = promisify(execFile);

interface Case {
  readonly mode: 'inline' | 'file';
  readonly size: number;
  readonly count: number;
}

/** ProxyStore's StreamProducer → Redis pub/sub → StreamConsumer (child process), seconds. */
async function proxystoreRun(config: BenchConfig, python: string, c: Case, dir: string) {
  const url = new URL(config.redisUrl);
  const { stdout } = await run(
    python,
    [
      join(config.root, 'bench', 'python', 'proxystore_anchor.py'),
      '--mode',
      c.mode,
      '--size',
      String(c.size),
      '--count',
      String(c.count),
      '--redis',
      `${url.hostname}:${url.port || 6379}`,
      '--dir',
      dir,
    ],
    { timeout: 600_000, maxBuffer: 1 << 20 },
  );
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
    seconds: number;
    received: number;
  };
  if (result.received !== c.count)
    throw new Error(`ProxyStore received ${result.received} of ${c.count}`);
  return result.seconds;
}

type PubSubShim = {
  RedisPubSubPublisher: { create(options: object): Promise<Publisher> };
};

/** Starts the consumer child of one proxystream run and resolves once it subscribed. */
async function startConsumer(settings: AnchorConsumerSettings): Promise<{
  done: Promise<{ end: bigint; received: number }>;
  stop(): void;
}> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./anchor-child.js', import.meta.url)),
    [JSON.stringify(settings)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  let ready!: () => void;
  let fail!: (error: Error) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    fail = reject;
  });
  const done = new Promise<{ end: bigint; received: number }>((resolve, reject) => {
    child.on('message', (message: AnchorConsumerMessage) => {
      if (message.type === 'ready') ready();
      else if (message.type === 'done')
        resolve({ end: BigInt(message.end), received: message.received });
      else {
        const error = new Error(`consumer child: ${message.message}`);
        fail(error);
        reject(error);
      }
    });
    child.on('exit', (code) => {
      const error = new Error(`consumer child exited (code ${code}) before it reported`);
      fail(error);
      reject(error);
    });
  });
  done.catch(() => undefined);
  const stop = () => {
    if (child.exitCode === null) child.kill();
  };
  try {
    await readyPromise;
  } catch (error) {
    stop();
    throw error;
  }
  return { done, stop };
}

/**
 * The same with proxystream: producer in this process, consumer in a child process (as
 * ProxyStore's), both on the same Redis and the same FileStore directory.
 */
async function proxystreamRun(
  config: BenchConfig,
  shim: PubSubShim,
  c: Case,
  dir: string,
  inFlight: number,
) {
  const topic = freshTopic('anchor');
  const consumer = await startConsumer({
    topic,
    redisUrl: config.redisUrl,
    dir,
    size: c.size,
    count: c.count,
  });
  try {
    const producer = new StreamProducer<Uint8Array>(
      await shim.RedisPubSubPublisher.create({ connection: config.redisUrl }),
      {
        ...(c.mode === 'file' ? { defaultStore: await FileStore.create({ directory: dir }) } : {}),
        maxBatchesInFlight: inFlight,
      },
    );
    const data = payload(c.size, 3);
    const start = process.hrtime.bigint();
    await sendWindowed(c.count, inFlight, () => producer.send(topic, data, { evict: true }));
    const { end, received } = await consumer.done;
    await producer.closeTopics(topic).catch(() => undefined);
    await producer.close({ stores: true });
    if (received !== c.count) throw new Error(`proxystream received ${received} of ${c.count}`);
    return Number(end - start) / 1e9;
  } finally {
    consumer.stop();
  }
}

/** Section 6: ProxyStore itself on the same Redis, same sizes, vs proxystream. */
export async function anchor(config: BenchConfig): Promise<SectionResult> {
  const python = join(config.root, '.cache', 'bench-venv', 'bin', 'python');
  const title = 'The anchor: ProxyStore (Python) vs proxystream';
  if (!existsSync(python)) {
    return {
      title,
      body: 'not available: .cache/bench-venv is missing (scripts/bench.sh creates it with `pip install proxystore[redis]`).',
      highlights: ['anchor: not available (no venv)'],
    };
  }
  const module = await loadShim('@proxystream/shim-redis');
  if ('reason' in module) {
    return {
      title,
      body: `not available: ${module.reason}`,
      highlights: [`anchor: not available: ${module.reason}`],
    };
  }
  const shim = module.exports as unknown as PubSubShim;
  const { stdout: version } = await run(python, [
    '-c',
    'import proxystore; print(proxystore.__version__)',
  ]);
  const dir = join(config.root, '.cache', 'bench', 'anchor-files');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cases: Case[] = config.quick
    ? [
        { mode: 'inline', size: KiB, count: 20000 },
        { mode: 'file', size: 16 * MiB, count: 16 },
        { mode: 'file', size: 100 * MiB, count: 4 },
      ]
    : [
        { mode: 'inline', size: 100, count: 20000 },
        { mode: 'inline', size: KiB, count: 20000 },
        { mode: 'file', size: MiB, count: 256 },
        { mode: 'file', size: 16 * MiB, count: 32 },
        { mode: 'file', size: 100 * MiB, count: 8 },
      ];
  const rounds = config.quick ? 2 : 3;
  const rows: string[][] = [];
  const highlights: string[] = [];
  for (const c of cases) {
    const samples = {
      proxystore: [] as number[],
      proxystream: [] as number[],
      pipelined: [] as number[],
    };
    const errors: { proxystore?: string; proxystream?: string; pipelined?: string } = {};
    for (let round = 0; round < rounds; round++) {
      progress(`anchor ${c.mode} ${sizeLabel(c.size)} round ${round + 1}`);
      const order =
        round % 2 === 0
          ? (['proxystore', 'proxystream', 'pipelined'] as const)
          : (['pipelined', 'proxystream', 'proxystore'] as const);
      for (const who of order) {
        if (errors[who] !== undefined) continue;
        try {
          const seconds =
            who === 'proxystore'
              ? await proxystoreRun(config, python, c, dir)
              : await proxystreamRun(config, shim, c, dir, who === 'pipelined' ? PIPELINED : 1);
          samples[who].push(c.count / seconds);
        } catch (error) {
          errors[who] = `failed: ${(error as Error).message.split('\n')[0]!.slice(0, 160)}`;
        }
      }
    }
    const ps: Summary | undefined = samples.proxystore.length
      ? summarize(samples.proxystore)
      : undefined;
    const px: Summary | undefined = samples.proxystream.length
      ? summarize(samples.proxystream)
      : undefined;
    const pp: Summary | undefined = samples.pipelined.length
      ? summarize(samples.pipelined)
      : undefined;
    const r = ratio(px, ps);
    const rp = ratio(pp, ps);
    const how = c.mode === 'inline' ? 'inline over Redis pub/sub' : 'FileStore + Redis pub/sub';
    const mbps = (s: Summary | undefined) =>
      s === undefined ? '–' : si((s.median * c.size) / 1e6);
    rows.push([
      sizeLabel(c.size),
      how,
      String(c.count),
      'ProxyStore',
      errors.proxystore ?? spread(ps),
      mbps(ps),
      '',
    ]);
    rows.push([
      sizeLabel(c.size),
      how,
      String(c.count),
      'proxystream',
      errors.proxystream ?? spread(px),
      mbps(px),
      fixed(r),
    ]);
    rows.push([
      sizeLabel(c.size),
      how,
      String(c.count),
      `proxystream, ${PIPELINED} sends in flight`,
      errors.pipelined ?? spread(pp),
      mbps(pp),
      fixed(rp),
    ]);
    if (!Number.isNaN(r)) {
      highlights.push(
        `anchor ${sizeLabel(c.size)} ${how}: proxystream ${fixed(r)} × ProxyStore ${version.trim()} awaiting each send, ` +
          `${fixed(rp)} × with ${PIPELINED} in flight (${mbps(px)} / ${mbps(pp)} vs ${mbps(ps)} MB/s)`,
      );
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const body = [
    `ProxyStore ${version.trim()} from PyPI (\`proxystore[redis]\` in .cache/bench-venv): its \`StreamProducer\` with ` +
      '`RedisPublisher` in one process and its `StreamConsumer` with `RedisSubscriber` in a forked child ' +
      '(its API is synchronous; a child avoids the GIL), `iter_objects()` resolving every object; large objects ' +
      'through a `Store` on a `FileConnector` (per object one file written in one `write` then an empty `.ready` ' +
      'marker file, its way of never exposing a partial file; resolving checks the marker and reads the file in ' +
      'one `read`, and the one-shot proxy deletes both). proxystream does the same in two Node processes: the producer in this one, ' +
      "`await producer.send(...)` one object at a time over `RedisPubSubPublisher` (like ProxyStore's blocking " +
      `\`send\`), and again with ${PIPELINED} sends in flight (\`maxBatchesInFlight: ${PIPELINED}\`, ` +
      'which ProxyStore has no counterpart of); the consumer in a child process (`child_process.fork`, started and ' +
      'subscribed before the clock starts), `StreamConsumer` over `RedisPubSubSubscriber`, `iterObjects()` ' +
      "resolving every object; large objects through a `FileStore` on the same directory as ProxyStore's " +
      '(temporary file and rename per put, so a reader never sees a partial file; default options, so files of ' +
      'evicted objects are reused by later puts, objects below 2 MiB are moved on the calling thread and larger ' +
      'ones in 8 MiB pieces on the thread pool; the consumer opens it from the ' +
      'store config in the event, through a `FileStoreFactory`); one-shot (evict) everywhere. Same Redis server, ' +
      `same sizes, alternating, ${rounds} rounds; time from the first send (producer process) to the last object ` +
      'received and resolved (consumer process), both on CLOCK_MONOTONIC. Neither side keeps the payload in memory ' +
      'after counting it. Each run opens its connections and stores afresh inside the timed interval on both sides, ' +
      'so the file cases send enough objects (the objects column; fewer with --quick) that these one-time costs weigh little.',
    '',
    table(
      [
        'size',
        'path',
        'objects',
        'who',
        'objects/s median (min–max)',
        'MB/s',
        'proxystream ÷ ProxyStore',
      ],
      rows,
    ),
  ].join('\n');
  return { title, body, highlights, versions: [['ProxyStore (Python)', version.trim()]] };
}
