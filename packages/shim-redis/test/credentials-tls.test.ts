import { readFile } from 'node:fs/promises';
import {
  closeAfterEach,
  collect,
  type LocalServer,
  label,
  readLabel,
  selfSignedCertificate,
  startLocalServer,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { StoreError } from '@proxystream/protocols';
import type { RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { answersPing } from './env.js';
import { messagingShims } from './messaging-shims.js';

// A redis-server of this file's own that speaks TLS only (no plaintext port) and wants a password,
// with a self-signed certificate made here by openssl: a message that gets through proves the
// shim handed its `tls` options to ioredis.
const SECRET = process.env.PROXYSTREAM_TEST_SECRET ?? 's3cret-for-tests';
let server: LocalServer;
let port: number;
let ca: Buffer;

const tlsOptions = (): RedisOptions => ({
  host: '127.0.0.1',
  port,
  password: SECRET,
  tls: { ca },
});

beforeAll(async () => {
  server = await startLocalServer({
    command: 'redis-server',
    name: 'redis-server (TLS)',
    async args({ port: tlsPort, directory }) {
      const { certFile, keyFile } = await selfSignedCertificate(directory);
      ca = await readFile(certFile);
      port = tlsPort;
      return [
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
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
      ];
    },
    ready: () => answersPing(tlsOptions()),
  });
});

afterAll(() => server?.stop());

const { track } = closeAfterEach();

describe('Redis over TLS with a password', () => {
  it.each(messagingShims.map((shim) => [shim.name, shim] as const))(
    'the %s shim passes its tls options to the client and carries messages',
    async (_name, shim) => {
      const topic = uniqueTopic('tls');
      const sub = track(await shim.subscriber(topic, tlsOptions(), 'tls'));
      const pub = track(await shim.publisher(tlsOptions()));
      await pub.send(topic, label('over tls'));
      const [message] = await collect(sub, 1);
      expect(readLabel(message!)).toBe('over tls');
    },
  );

  it('the store and its factory pass tls options on; the config carries neither them nor the password', async () => {
    const store = track(await RedisStore.create({ connection: tlsOptions(), prefix: 'tls:' }));
    const key = await store.put(label('stored'));
    const config = store.config();
    expect(JSON.stringify(config)).not.toContain(SECRET);
    expect(JSON.stringify(config)).not.toContain('BEGIN CERTIFICATE');
    const factory = new RedisStoreFactory({
      allowedServers: [`127.0.0.1:${port}`],
      allowedPrefixes: ['tls:'],
      redisOptions: { password: SECRET, tls: { ca } },
    });
    const reopened = track(await factory.open(JSON.parse(JSON.stringify(config))));
    expect(readLabel((await reopened.get(key))!)).toBe('stored');
  });

  it('a factory without tls options cannot talk to the TLS port: StoreError within a bounded time', async () => {
    const factory = new RedisStoreFactory({
      allowedServers: [`127.0.0.1:${port}`],
      allowedPrefixes: ['tls:'],
      redisOptions: { password: SECRET },
    });
    const reopened = track(
      await factory.open(
        (
          await RedisStore.create({
            connection: { ...tlsOptions(), lazyConnect: true },
            prefix: 'tls:',
          })
        ).config(),
      ),
    );
    const error = await within(
      reopened.get('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e),
      60_000,
      'a plaintext get on the TLS port',
    );
    expect(error).toBeInstanceOf(StoreError);
  });
});
