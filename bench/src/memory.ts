import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InProcessBroker, StreamConsumer, StreamProducer } from '@proxystream/stream';
import type { BenchConfig } from './config.js';
import { bytes, fixed, table } from './format.js';
import { freshTopic } from './pipe.js';
import { progress, type SectionResult } from './report.js';
import { KiB, MiB, payload, RssSampler, sleep } from './timing.js';

interface ChildResult {
  peakRss: number;
  baseRss: number;
  seconds: number;
  received?: number;
}

function child(
  args: string[],
  onReady?: () => void,
): { proc: ChildProcess; done: Promise<ChildResult> } {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'memory-child.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let last = '';
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    if (line === 'ready') onReady?.();
    else last = line;
  });
  const done = new Promise<ChildResult>((resolve, reject) => {
    proc.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(last) as ChildResult);
      else reject(new Error(`memory child ${args[0]} exited with ${code}`));
    });
  });
  return { proc, done };
}

/** Producer and consumer in two processes over a Redis shim; the consumer optionally slow. */
async function twoProcesses(
  config: BenchConfig,
  transport: string,
  count: number,
  size: number,
  slowMs: number,
) {
  const topic = freshTopic(`mem-${transport}`);
  const common = [transport, topic, String(count), String(size), String(slowMs), config.redisUrl];
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const consumer = child(['consumer', ...common], () => ready());
  await Promise.race([isReady, consumer.done]);
  const producer = child(['producer', ...common]);
  return { producer: await producer.done, consumer: await consumer.done };
}

/** Producer and consumer on the in-process broker (bounded queue, backpressure) in this process. */
async function inProcess(count: number, size: number, slowMs: number) {
  const broker = new InProcessBroker({ capacity: 64 });
  const topic = freshTopic('mem-inproc');
  const consumer = new StreamConsumer<Uint8Array>(await broker.subscriber(topic), {
    topics: [topic],
  });
  const producer = new StreamProducer<Uint8Array>(broker.publisher());
  (globalThis as { gc?: () => void }).gc?.();
  const sampler = new RssSampler(10);
  const loop = (async () => {
    let received = 0;
    for await (const _ of consumer) {
      if (slowMs > 0) await sleep(slowMs);
      if (++received === count) break;
    }
  })();
  const data = payload(size, 9);
  for (let i = 0; i < count; i++) await producer.send(topic, data);
  await loop;
  await producer.close({ topics: [topic] }).catch(() => undefined);
  await broker.close();
  return { peakRss: sampler.stop(), baseRss: sampler.base };
}

/** Section 5: peak RSS of producer and consumer over a long stream, fast and slow consumer. */
export async function memory(config: BenchConfig): Promise<SectionResult> {
  const size = 64 * KiB;
  const total = config.quick ? 256 * MiB : 1024 * MiB;
  const count = total / size;
  const slowCount = config.quick ? 2000 : 5000;
  const rows: string[][] = [];
  const highlights: string[] = [];
  for (const transport of ['redis-pubsub', 'redis-list', 'redis-streams']) {
    for (const [label, n, slow] of [
      ['fast consumer', count, 0],
      ['slow consumer (1 ms per object)', slowCount, 1],
    ] as const) {
      progress(`memory ${transport} ${label}`);
      try {
        const r = await twoProcesses(config, transport, n, size, slow);
        rows.push([
          transport,
          label,
          `${n} × 64 KiB = ${bytes(n * size)}`,
          `${bytes(r.producer.peakRss)} (+${bytes(r.producer.peakRss - r.producer.baseRss)})`,
          `${bytes(r.consumer.peakRss)} (+${bytes(r.consumer.peakRss - r.consumer.baseRss)})`,
          fixed(r.consumer.seconds, 1),
          r.consumer.received === undefined || r.consumer.received === n
            ? 'all'
            : `${r.consumer.received} (${fixed((100 * (n - r.consumer.received)) / n, 1)} % dropped)`,
        ]);
        highlights.push(
          `memory ${transport}, ${label}: producer peak RSS +${bytes(r.producer.peakRss - r.producer.baseRss)}, consumer +${bytes(r.consumer.peakRss - r.consumer.baseRss)} over ${bytes(n * size)}`,
        );
      } catch (error) {
        rows.push([transport, label, '', `failed: ${(error as Error).message}`, '', '', '']);
      }
    }
  }
  for (const [label, n, slow] of [
    ['fast consumer', count, 0],
    ['slow consumer (1 ms per object)', slowCount, 1],
  ] as const) {
    progress(`memory in-process ${label}`);
    const r = await inProcess(n, size, slow);
    rows.push([
      'in-process (one process, capacity 64)',
      label,
      `${n} × 64 KiB = ${bytes(n * size)}`,
      `${bytes(r.peakRss)} (+${bytes(r.peakRss - r.baseRss)}) both`,
      '',
      '',
      'all',
    ]);
  }
  const body = [
    'A long stream of 64 KiB inline objects, `await producer.send(...)` one at a time. Redis rows: producer and ' +
      'consumer in two child processes (each its own RSS, sampled every 10 ms; "+" is the growth over the ' +
      "process's RSS at start). A slow consumer sleeps 1 ms per object. Over a persistent Redis shim the " +
      "backlog waits in Redis, so the producer's memory must stay flat whatever the consumer does; on the " +
      'in-process broker the bounded queue makes `send` wait. Redis pub/sub cannot hold a backlog: its subscriber ' +
      'buffers at most 8 MiB (`maxBufferedBytes`) and drops the rest, reported as lost messages (the consumer here ' +
      'ignores the sequence gaps and ends on end-of-stream or 3 s of silence), so its memory stays bounded by design ' +
      'and a slow consumer loses messages instead.',
    '',
    table(
      [
        'broker',
        'consumer',
        'stream',
        'producer peak RSS',
        'consumer peak RSS',
        'consumer s',
        'received',
      ],
      rows,
    ),
  ].join('\n');
  return { title: 'Memory over a long stream', body, highlights };
}
