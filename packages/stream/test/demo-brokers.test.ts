import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The demo on every broker it knows, as a user runs it: examples/demo.mjs on the built packages
// (examples/ imports the packages' dist; CI builds before testing, this file does not build),
// on the brokers of REDIS_URL, NATS_URL and KAFKA_BROKERS (the project's test command starts
// them). Each run is small; what is checked is the summary a user reads: every frame verified,
// the store empty afterwards, on the broker asked for.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const demo = `${root}examples/demo.mjs`;
const dists = ['stream', 'shim-redis', 'shim-nats', 'shim-kafka', 'shim-zeromq'].map(
  (name) => `${root}packages/${name}/dist/testing.js`,
);

const redis = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const nats = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const kafka = `kafka://${process.env.KAFKA_BROKERS || '127.0.0.1:9092'}`;

/** A free TCP port of 127.0.0.1 for ZeroMQ, which has no broker: the dispatcher binds it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const COUNT = 24;
const SMALL = ['--count', String(COUNT), '--size', '48KiB', '--workers', '2', '--batch', '4'];
/** 24 frames, every 10th blurry: produced, dispatched, dropped, verified, failed. */
const ALL_VERIFIED = [24, 22, 2, 22, 0];

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: readonly string[]): ChildProcessWithoutNullStreams {
  for (const dist of dists) {
    if (!existsSync(dist)) {
      throw new Error(
        `${dist} is missing: build the packages first (pnpm build); this test runs the built demo`,
      );
    }
  }
  return spawn(process.execPath, [demo, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Collects a child's output and resolves when it exits; bounded, so a hang fails the case. */
function finished(
  child: ChildProcessWithoutNullStreams,
  onStderr?: (text: string) => void,
): Promise<DemoRun> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
    onStderr?.(stderr);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the demo did not exit within 45 s; stdout:\n${stdout}\nstderr:\n${stderr}`),
      );
    }, 45_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const run = (args: readonly string[]): Promise<DemoRun> => finished(start(args));

/** produced, dispatched, dropped, verified, failed from the summary's frames line. */
function frames(stdout: string): number[] | undefined {
  return /(\d+) produced, (\d+) dispatched, (\d+) dropped as blurry \(evicted\), (\d+) verified by workers, (\d+) failed/
    .exec(stdout)
    ?.slice(1)
    .map(Number);
}

/** The checks a user makes of a run: all verified, store empty, on `name` with `store`. */
function expectVerified(result: DemoRun, name: string, store: string): void {
  const context = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(frames(result.stdout), context).toEqual(ALL_VERIFIED);
  expect(result.stdout, context).toMatch(/store afterwards {2}0 (file|key|object|slot)\(s\)/);
  expect(result.stdout, context).toContain(
    `result            ok: all 24 frames seen, 22 verified, 2 dropped, store empty (${name}, ${store} store)`,
  );
  expect(result.code, context).toBe(0);
}

const BROKERS: readonly { name: string; args: () => Promise<readonly string[]> }[] = [
  { name: 'inproc', args: async () => [] },
  { name: 'threads', args: async () => ['--broker', 'threads'] },
  { name: 'redis-list', args: async () => ['--broker', redis, '--mode', 'list'] },
  { name: 'redis-pubsub', args: async () => ['--broker', redis, '--mode', 'pubsub'] },
  { name: 'redis-streams', args: async () => ['--broker', redis, '--mode', 'streams'] },
  { name: 'nats', args: async () => ['--broker', nats, '--mode', 'core'] },
  { name: 'jetstream', args: async () => ['--broker', nats, '--mode', 'jetstream'] },
  { name: 'kafka', args: async () => ['--broker', kafka] },
  {
    name: 'zeromq-pushpull',
    args: async () => ['--broker', `zmq://127.0.0.1:${await freePort()}`, '--mode', 'pushpull'],
  },
  {
    name: 'zeromq-pubsub',
    args: async () => ['--broker', `zmq://127.0.0.1:${await freePort()}`, '--mode', 'pubsub'],
  },
];

describe('the demo on every broker', () => {
  for (const broker of BROKERS) {
    it(`--broker ${broker.name} verifies every frame and leaves the file store empty`, async () => {
      expectVerified(await run([...SMALL, ...(await broker.args())]), broker.name, 'file');
    }, 60_000);
  }
});

describe('the demo on every store', () => {
  const STORES: readonly { store: string; name: string; args: readonly string[] }[] = [
    { store: 'memory', name: 'inproc', args: [] },
    { store: 'memory', name: 'redis-streams', args: ['--broker', redis, '--mode', 'streams'] },
    { store: 'memory', name: 'threads', args: ['--broker', 'threads'] },
    { store: 'shared', name: 'threads', args: ['--broker', 'threads'] },
    { store: 'shared', name: 'nats', args: ['--broker', nats, '--mode', 'core'] },
    { store: 'redis', name: 'redis-list', args: ['--broker', redis, '--mode', 'list'] },
    { store: 'redis', name: 'kafka', args: ['--broker', kafka] },
    { store: 'nats', name: 'jetstream', args: ['--broker', nats, '--mode', 'jetstream'] },
  ];
  for (const { store, name, args } of STORES) {
    it(`--store ${store} on ${name} verifies every frame and leaves the store empty`, async () => {
      expectVerified(await run([...SMALL, '--store', store, ...args]), name, store);
    }, 60_000);
  }
});

/**
 * Runs `--role dispatcher`, and `--role producer` once the dispatcher says it is subscribed (as a
 * user would in a second terminal); checks both summaries.
 */
async function splitRun(common: readonly string[], name: string, store: string): Promise<void> {
  const topic = common[common.indexOf('--topic') + 1];
  let producer: Promise<DemoRun> | undefined;
  const dispatched = await finished(
    start(['--role', 'dispatcher', '--workers', '2', ...common]),
    (text) => {
      if (producer === undefined && text.includes(`waiting for a producer on topic ${topic}`)) {
        producer = run(['--role', 'producer', ...SMALL, ...common]);
      }
    },
  );
  const produced = await producer;
  expect(produced, `dispatcher:\n${dispatched.stdout}\n${dispatched.stderr}`).toBeDefined();
  expect(produced!.stdout, produced!.stderr).toContain(
    `frames            ${COUNT} produced of ${COUNT}`,
  );
  expect(produced!.code, produced!.stderr).toBe(0);
  expect(dispatched.stderr).toContain(`--role producer ${common.join(' ')}`);
  expectVerified(dispatched, name, store);
}

const splitTopic = (): string => `proxystream-demo-split-${randomBytes(4).toString('hex')}`;

describe('the demo split across two processes', () => {
  it('--role dispatcher and --role producer on Redis verify every frame between them', async () => {
    const common = [
      '--broker',
      redis,
      '--mode',
      'list',
      '--store',
      'redis',
      '--topic',
      splitTopic(),
    ];
    await splitRun(common, 'redis-list', 'redis');
  }, 90_000);

  it('--role dispatcher and --role producer on ZeroMQ verify every frame between them', async () => {
    const broker = `zmq://127.0.0.1:${await freePort()}`;
    const common = [
      '--broker',
      broker,
      '--mode',
      'pushpull',
      '--store',
      'file',
      '--topic',
      splitTopic(),
    ];
    await splitRun(common, 'zeromq-pushpull', 'file');
  }, 90_000);
});

describe('the demo refuses what it cannot run', () => {
  it('--role without a network broker is a usage error', async () => {
    const result = await run(['--role', 'producer']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the in-process broker lives in one process');
    const threads = await run(['--role', 'dispatcher', '--broker', 'threads']);
    expect(threads.code).toBe(2);
    expect(threads.stderr).toContain('the worker-threads broker lives in one process');
  });

  it('--store memory across processes is a usage error', async () => {
    const result = await run(['--role', 'dispatcher', '--broker', redis, '--store', 'memory']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("a memory store is one process's");
  });

  it('a broker that refuses the connection exits 3 and says how to start one', async () => {
    const result = await run(['--broker', `nats://127.0.0.1:${await freePort()}`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Start a local one with: bash scripts/brokers.sh start nats');
  });

  it('an unknown --mode names the modes of the broker', async () => {
    const result = await run(['--broker', nats, '--mode', 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a nats broker takes --mode jetstream | core');
  });
});
