import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { collect, label, readLabel, uniqueTopic, within } from '@proxystream/contract-tests';
import { StoreError } from '@proxystream/protocols';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStore,
  RedisStoreFactory,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';

// A redis-server of this file's own that speaks TLS only (no plaintext port) and wants a password,
// with a self-signed certificate made here by openssl: a message that gets through proves the
// shim handed its `tls` options to ioredis.
const SECRET = process.env.PROXYSTREAM_TEST_SECRET ?? 's3cret-for-tests';
let server: ChildProcess;
let port: number;
let directory: string;
let ca: Buffer;

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

const tlsOptions = (): RedisOptions => ({
  host: '127.0.0.1',
  port,
  password: SECRET,
  tls: { ca },
});

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'proxystream-redis-tls-'));
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  ca = await readFile(certFile);
  port = await freePort();
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      certFile,
      '--tls-key-file',
      keyFile,
      '--tls-ca-cert-file',
      certFile,
      '--tls-auth-clients',
      'no',
      '--requirepass',
      SECRET,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { cwd: directory, stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = new Redis({ ...tlsOptions(), lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    const answer = await probe
      .connect()
      .then(() => probe.ping())
      .catch((error: unknown) => error);
    probe.disconnect();
    if (answer === 'PONG') break;
    if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode}`);
    if (Date.now() > deadline) throw answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  if (server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await within(exited, 10_000, 'redis-server exit');
  }
  await rm(directory, { recursive: true, force: true });
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await within(
    Promise.all(cleanup.splice(0).map((step) => step().catch(() => {}))),
    30_000,
    'cleanup',
  );
});

describe('Redis over TLS with a password', () => {
  it.each([
    [
      'pub/sub',
      () => new RedisPubSubPublisher({ connection: tlsOptions() }),
      (topic: string) => RedisPubSubSubscriber.create(topic, { connection: tlsOptions() }),
    ],
    [
      'list queue',
      () => new RedisQueuePublisher({ connection: tlsOptions() }),
      (topic: string) => RedisQueueSubscriber.create(topic, { connection: tlsOptions() }),
    ],
    [
      'streams',
      () => new RedisStreamsPublisher({ connection: tlsOptions() }),
      (topic: string) =>
        RedisStreamsSubscriber.create(topic, { connection: tlsOptions(), group: 'tls' }),
    ],
  ] as const)(
    'the %s shim passes its tls options to the client and carries messages',
    async (_name, publisher, subscriber) => {
      const topic = uniqueTopic('tls');
      const sub = await subscriber(topic);
      cleanup.push(() => sub.close());
      const pub = publisher();
      cleanup.push(() => pub.close());
      await pub.send(topic, label('over tls'));
      const [message] = await collect(sub, 1);
      expect(readLabel(message!)).toBe('over tls');
    },
  );

  it('the store and its factory pass tls options on; the config carries neither them nor the password', async () => {
    const store = new RedisStore({ connection: tlsOptions(), prefix: 'tls:' });
    cleanup.push(() => store.close());
    const key = await store.put(label('stored'));
    const config = store.config();
    expect(JSON.stringify(config)).not.toContain(SECRET);
    expect(JSON.stringify(config)).not.toContain('BEGIN CERTIFICATE');
    const factory = new RedisStoreFactory({
      allowedHosts: [`127.0.0.1:${port}`],
      redisOptions: { password: SECRET, tls: { ca } },
    });
    const reopened = await factory.open(JSON.parse(JSON.stringify(config)));
    cleanup.push(() => reopened.close());
    expect(readLabel((await reopened.get(key))!)).toBe('stored');
  });

  it('a factory without tls options cannot talk to the TLS port: StoreError within a bounded time', async () => {
    const factory = new RedisStoreFactory({
      allowedHosts: [`127.0.0.1:${port}`],
      redisOptions: { password: SECRET },
    });
    const reopened = await factory.open(
      new RedisStore({
        connection: { ...tlsOptions(), lazyConnect: true },
        prefix: 'tls:',
      }).config(),
    );
    cleanup.push(() => reopened.close());
    const error = await within(
      reopened.get('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e),
      60_000,
      'a plaintext get on the TLS port',
    );
    expect(error).toBeInstanceOf(StoreError);
  });
});
