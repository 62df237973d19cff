import { fork } from 'node:child_process';
import { once } from 'node:events';
import { type LocalServer, uniqueTopic } from '@proxystream/contract-tests';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisPubSubPublisher } from '../src/index.js';
import { privateRedis } from './env.js';

// The reader runs on the built package (CI builds before testing); PUBSUB_READER_MODULE points it
// at another build.
const reader = new URL('./pubsub-reader-child.mjs', import.meta.url);
const readerModule = process.env.PUBSUB_READER_MODULE ?? new URL('../dist/index.js', reader).href;

interface ReaderFigures {
  received: number;
  lossErrors: number;
  connectionLosses: number;
  ended: 'end' | 'timeout';
}

let server: LocalServer | undefined;
afterEach(() => server?.stop());

/** A redis-server of this file's own (default settings but for `extra`), on a free port. */
async function redisServer(extra: string[] = []): Promise<string> {
  server = await privateRedis(extra);
  return `redis://127.0.0.1:${server.port}`;
}

/** Sends `count` messages of `size` bytes, then `end`, to a reader in another process. */
async function run(url: string, count: number, size: number): Promise<ReaderFigures> {
  const topic = uniqueTopic('pubsub-load');
  const child = fork(reader, [url, topic, '3000', readerModule], { stdio: 'pipe' });
  let out = '';
  child.stdout!.on('data', (data: Buffer) => {
    out += data.toString();
  });
  const exited = once(child, 'exit');
  while (!out.includes('ready\n')) {
    if (child.exitCode !== null) throw new Error(`the reader exited: ${out}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const publisher = await RedisPubSubPublisher.create({ connection: url });
  const chunk = new Uint8Array(size);
  const started = performance.now();
  for (let i = 0; i < count; i++) await publisher.send(topic, chunk);
  await publisher.send(topic, Buffer.from('end'));
  await publisher.close();
  await exited;
  const figures = JSON.parse(out.split('\n').find((line) => line.startsWith('{')) ?? 'null');
  console.info(
    `pub/sub load, reader in another process: ${count} × ${size} B, ${JSON.stringify(figures)}, ${((count * size) / 1e6 / ((performance.now() - started) / 1000)).toFixed(0)} MB/s sent`,
  );
  return figures as ReaderFigures;
}

/** Every message the reader missed, and the end of stream if it missed it, was thrown at it. */
function expectEveryLossThrown(figures: ReaderFigures, count: number): void {
  expect(figures.lossErrors).toBeGreaterThanOrEqual(figures.connectionLosses);
  if (figures.received < count || figures.ended !== 'end') {
    expect(figures.lossErrors).toBeGreaterThan(0);
  }
}

describe('redis pub/sub under load, the reader in another process', () => {
  it('64 KiB and 4 MiB messages with default settings: all arrive, or next() threw each loss', async () => {
    const url = await redisServer();
    expectEveryLossThrown(await run(url, 2_000, 64 * 1024), 2_000);
    expectEveryLossThrown(await run(url, 20, 4 * 1024 * 1024), 20);
  });

  it('a reader disconnected by the output-buffer limit gets MessagesLostError from next() for every disconnect', async () => {
    const url = await redisServer(['--client-output-buffer-limit', 'pubsub 1mb 512kb 60']);
    const figures = await run(url, 5, 4 * 1024 * 1024);
    expect(figures.connectionLosses).toBeGreaterThan(0);
    expect(figures.received).toBeLessThan(5);
    expectEveryLossThrown(figures, 5);
  });
});
