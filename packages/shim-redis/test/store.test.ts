import { randomBytes } from 'node:crypto';
import { StoreNotAllowedError } from '@proxystream/protocols';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

const prefix = `store-test-${process.pid}:`;
let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys(`${prefix}*`);
});

describe('redis store', () => {
  it('writes under its prefix with the TTL it was given', async () => {
    const store = await RedisStore.create({ connection: REDIS_URL, prefix, ttlMs: 600_000 });
    const [key] = await store.putBatch([randomBytes(10)]);
    const ttl = await admin.pttl(`${prefix}${key}`);
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect(store.config()).toMatchObject({ kind: 'redis', prefix, ttlMs: 600_000, db: 0 });
    await store.close();
  });

  it('keeps the password out of its config unless asked', async () => {
    const url = new URL(REDIS_URL);
    const options = {
      host: url.hostname,
      port: Number(url.port || 6379),
      password: 'secret',
      lazyConnect: true,
    };
    const quiet = await RedisStore.create({ connection: options, prefix });
    const telling = await RedisStore.create({
      connection: options,
      prefix,
      includeCredentialsInConfig: true,
    });
    expect(JSON.stringify(quiet.config())).not.toContain('secret');
    expect(telling.config()).toMatchObject({ password: 'secret' });
    await Promise.all([quiet.close(), telling.close()]);
  });

  it('does not close a client it was given', async () => {
    const client = new Redis(REDIS_URL);
    const store = await RedisStore.create({ connection: client, prefix });
    const key = await store.put(randomBytes(3));
    await store.close();
    expect(await client.exists(`${prefix}${key}`)).toBe(1);
    client.disconnect();
  });
});

describe('redis store factory', () => {
  const config = async () => {
    const url = new URL(REDIS_URL);
    const options = { host: url.hostname, port: Number(url.port || 6379), lazyConnect: true };
    return (await RedisStore.create({ connection: options, prefix })).config();
  };

  it('opens a store on an allowed host, by host or host:port', async () => {
    for (const allowed of ['127.0.0.1', '127.0.0.1:6379']) {
      const store = await new RedisStoreFactory({
        allowedServers: [allowed],
        allowedPrefixes: [prefix],
      }).open(await config());
      expect(await store.exists('00000000-0000-0000-0000-000000000000')).toBe(false);
      await store.close();
    }
  });

  it.each([
    ['another host', { host: '10.0.0.1' }],
    ['another port', { port: 6380 }],
    ['another kind', { kind: 'file' }],
    ['a db not allowed', { db: 3 }],
    ['a malformed port', { port: '6379' }],
    ['no prefix', { prefix: null }],
    ['a prefix not allowed', { prefix: 'other:' }],
    ['cluster mode', { cluster: true }],
  ])('refuses a config naming %s with StoreNotAllowedError', async (_what, change) => {
    const factory = new RedisStoreFactory({
      allowedServers: ['127.0.0.1:6379'],
      allowedDbs: [0],
      allowedPrefixes: [prefix],
    });
    await expect(factory.open({ ...(await config()), ...change } as never)).rejects.toBeInstanceOf(
      StoreNotAllowedError,
    );
  });
});
