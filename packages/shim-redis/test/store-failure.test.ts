import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from '@proxystream/contract-tests';
import { ObjectNotFoundError, StoreError } from '@proxystream/protocols';
import { ProxyReference, StoreCache } from '@proxystream/stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';

// A redis-server of this file's own on a free port: killing it must not disturb the shared one.
let server: ChildProcess;
let port: number;
let directory: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING; rejects if it exits first. */
async function startRedis(): Promise<void> {
  port = await freePort();
  directory = await mkdtemp(join(tmpdir(), 'proxystream-redis-failure-'));
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { cwd: directory, stdio: 'ignore' },
  );
  const exited = new Promise<never>((_, reject) => {
    server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    server.once('error', reject);
  });
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => {});
    const answer = await Promise.race([probe.connect().then(() => probe.ping()), exited]).catch(
      (error: unknown) => error,
    );
    probe.disconnect();
    if (answer === 'PONG') return;
    if (server.exitCode !== null || Date.now() > deadline) throw answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function killRedis(): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await within(exited, 10_000, 'redis-server exit');
}

beforeAll(startRedis);
afterAll(async () => {
  await killRedis();
  await rm(directory, { recursive: true, force: true });
});

describe('a Redis store whose server went away', () => {
  it('resolve() and every store operation fail with StoreError within a bounded time, not a hang', async () => {
    const store = new RedisStore({ connection: { host: '127.0.0.1', port }, prefix: 'failure:' });
    const key = await store.put(Uint8Array.of(1, 2, 3));
    const json = JSON.parse(JSON.stringify(new ProxyReference({ key, store })));
    const stores = new StoreCache([new RedisStoreFactory({ allowedHosts: [`127.0.0.1:${port}`] })]);
    // Opened before the server goes: the consumer side holds a connection that then breaks.
    const revived = ProxyReference.fromJSON<Uint8Array>(json, { stores });
    const other = ProxyReference.fromJSON<Uint8Array>(json, { stores });
    expect([...(await other.resolve())]).toEqual([1, 2, 3]);

    await killRedis();

    // A store-owned connection gives up after STORE_MAX_RETRIES_PER_REQUEST reconnection attempts.
    const outcomes = await within(
      Promise.all([
        revived.resolve().catch((e: unknown) => e),
        store.get(key).catch((e: unknown) => e),
        store.exists(key).catch((e: unknown) => e),
        store.put(Uint8Array.of(4)).catch((e: unknown) => e),
        store.evict(key).catch((e: unknown) => e),
      ]),
      60_000,
      'store operations with the server gone',
    );
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(StoreError);
      expect(outcome).not.toBeInstanceOf(ObjectNotFoundError);
      expect((outcome as StoreError).code).toBe('STORE_FAILED');
      expect((outcome as StoreError).cause).toBeInstanceOf(Error);
    }
    await store.close();
    await stores.close();
  });
});
