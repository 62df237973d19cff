import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from '@proxystream/contract-tests';
import { ObjectNotFoundError, StoreError } from '@proxystream/protocols';
import { ProxyReference, StoreCache } from '@proxystream/stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsObjectStore, NatsObjectStoreFactory } from '../src/index.js';

// A nats-server of this file's own on a free port: killing it must not disturb the shared one.
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startNats(): Promise<void> {
  port = await freePort();
  directory = await mkdtemp(join(tmpdir(), 'proxystream-nats-failure-'));
  server = spawn(
    'nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(directory, 'js')],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (server.exitCode !== null) throw new Error(`nats-server exited with ${server.exitCode}`);
    if (Date.now() > deadline) throw new Error('nats-server did not start within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function killNats(): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await within(exited, 10_000, 'nats-server exit');
}

beforeAll(startNats);
afterAll(async () => {
  await killNats();
  await rm(directory, { recursive: true, force: true });
});

describe('a NATS object store whose server went away', () => {
  it('resolve() and every store operation fail with StoreError within a bounded time, not a hang', async () => {
    const servers = `127.0.0.1:${port}`;
    const store = await NatsObjectStore.open({ servers, bucket: 'failure', create: {} });
    const key = await store.put(Uint8Array.of(1, 2, 3));
    const json = JSON.parse(JSON.stringify(new ProxyReference({ key, store })));
    const stores = new StoreCache([new NatsObjectStoreFactory({ allowedServers: [servers] })]);
    // Opened before the server goes: the consumer side holds a connection that then breaks.
    const revived = ProxyReference.fromJSON<Uint8Array>(json, { stores });
    const other = ProxyReference.fromJSON<Uint8Array>(json, { stores });
    expect([...(await other.resolve())]).toEqual([1, 2, 3]);

    await killNats();

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
    }
    await within(Promise.all([store.close(), stores.close()]), 30_000, 'closing the stores');
  });

  it('a config naming a server that is down fails to open with StoreError, not a hang', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const factory = new NatsObjectStoreFactory({ allowedServers: [down] });
    const error = await within(
      factory
        .open({ kind: 'nats-object', name: 'x', bucket: 'x', servers: [down] })
        .catch((e: unknown) => e),
      60_000,
      'open against a server that is down',
    );
    expect(error).toBeInstanceOf(StoreError);
  });
});
