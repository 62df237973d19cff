import { randomUUID } from 'node:crypto';
import { connectionTrap, label, readLabel, uniqueTopic, within } from '@proxystream/contract-tests';
import {
  ClosedError,
  InvalidStoreKeyError,
  type StoreConfig,
  StoreError,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { encodeBatch, StreamConsumer } from '@proxystream/stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisQueueSubscriber, RedisStore, RedisStoreFactory } from '../src/index.js';
import { adminClient, deleteKeys, REDIS_URL } from './env.js';

// Configs as a hostile producer would forge them: plain JSON, aimed at the real server.
const url = new URL(REDIS_URL);
const host = url.hostname;
const port = Number(url.port || 6379);
const forged = (fields: Record<string, unknown> = {}): StoreConfig =>
  ({
    kind: 'redis',
    name: 'forged',
    host,
    port,
    db: 0,
    prefix: 'proxystream:',
    ...fields,
  }) as never;
const anyKey = '00000000-0000-4000-8000-000000000000';
const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

let admin: Redis;
beforeAll(async () => {
  admin = await adminClient();
});
afterAll(async () => {
  admin.disconnect();
  await deleteKeys('store-factory-*');
});

describe('RedisStoreFactory: cluster mode is the consumer’s decision, and nothing waits for ever', () => {
  it('refuses a config with cluster: true with StoreNotAllowedError unless the factory allows cluster', async () => {
    const factory = new RedisStoreFactory({ allowedServers: [`${host}:${port}`] });
    const error = await within(
      caught(factory.open(forged({ cluster: true })).then((store) => store.get(anyKey))),
      5_000,
      'opening a forged cluster config',
    );
    expect(error).toBeInstanceOf(StoreNotAllowedError);
    for (const cluster of ['yes', 1, null]) {
      expect(await caught(factory.open(forged({ cluster })))).toBeInstanceOf(StoreNotAllowedError);
    }
  });

  it('a cluster config the factory allows, aimed at a server that is not a cluster, fails with StoreError within the timeout', async () => {
    const factory = new RedisStoreFactory({
      allowedServers: [`${host}:${port}`],
      allowCluster: true,
      operationTimeoutMs: 1_000,
    });
    const started = Date.now();
    const error = await within(
      caught(factory.open(forged({ cluster: true })).then((store) => store.get(anyKey))),
      5_000,
      'opening a cluster config on a plain server',
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('an operation on a server that accepts connections and never answers fails with StoreError after operationTimeoutMs', async () => {
    const trap = await connectionTrap();
    try {
      const factory = new RedisStoreFactory({
        allowedServers: [`127.0.0.1:${trap.port}`],
        operationTimeoutMs: 500,
      });
      const store = await factory.open(forged({ host: '127.0.0.1', port: trap.port }));
      const error = await within(caught(store.get(anyKey)), 5_000, 'get on a silent server');
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toContain('500 ms');
      await store.close();
    } finally {
      await trap.close();
    }
  });

  it('closing a store ends its pending operations with ClosedError', async () => {
    const trap = await connectionTrap();
    try {
      const store = await new RedisStoreFactory({
        allowedServers: [`127.0.0.1:${trap.port}`],
      }).open(forged({ host: '127.0.0.1', port: trap.port }));
      const pending = caught(store.get(anyKey));
      const batch = caught(store.putBatch([label('x')]));
      await store.close();
      expect(await within(pending, 2_000, 'get after close')).toBeInstanceOf(ClosedError);
      expect(await within(batch, 2_000, 'putBatch after close')).toBeInstanceOf(ClosedError);
    } finally {
      await trap.close();
    }
  });
});

describe('RedisStoreFactory: a config reads and deletes only under allowed prefixes and dbs', () => {
  it('by default allows the store’s default prefix (and prefixes under it) only, refusing others without connecting', async () => {
    const trap = await connectionTrap();
    try {
      const factory = new RedisStoreFactory({ allowedServers: [`127.0.0.1:${trap.port}`] });
      const config = forged({ host: '127.0.0.1', port: trap.port });
      for (const prefix of ['app-sessions:', '', 'proxystream', 'proxystrea', 'x:proxystream:']) {
        const error = await caught(factory.open({ ...config, prefix }));
        expect(error, prefix).toBeInstanceOf(StoreNotAllowedError);
      }
      expect(trap.connections()).toBe(0);
      for (const prefix of ['proxystream:', 'proxystream:frames:']) {
        await (await factory.open({ ...config, prefix })).close();
      }
    } finally {
      await trap.close();
    }
  });

  it('allowedPrefixes replaces the default: configs under those prefixes open, others are refused', async () => {
    const factory = new RedisStoreFactory({
      allowedServers: [`${host}:${port}`],
      allowedPrefixes: ['store-factory-a:'],
    });
    const store = await RedisStore.create({
      connection: REDIS_URL,
      prefix: 'store-factory-a:frames:',
    });
    const key = await store.put(label('mine'));
    const reopened = await factory.open(JSON.parse(JSON.stringify(store.config())));
    expect(readLabel((await reopened.get(key))!)).toBe('mine');
    for (const prefix of ['proxystream:', 'store-factory-b:', 'store-factory-a']) {
      expect(await caught(factory.open(forged({ prefix })))).toBeInstanceOf(StoreNotAllowedError);
    }
    await Promise.all([store.close(), reopened.close()]);
  });

  it('a consumer refuses forged events naming another application’s prefix, or cluster mode, at once: StoreNotAllowedError, the key neither read nor deleted', async () => {
    const victim = `store-factory-sessions-${randomUUID()}:`;
    const key = randomUUID();
    await admin.set(`${victim}${key}`, 'secret session');
    const topic = uniqueTopic('store-factory-prefix');
    const consumer = new StreamConsumer(
      await RedisQueueSubscriber.create(topic, { connection: REDIS_URL }),
      { topics: [topic], stores: [new RedisStoreFactory({ allowedServers: [`${host}:${port}`] })] },
    );
    try {
      const batch = (sequence: number, events: never[], store?: StoreConfig) =>
        Buffer.from(
          encodeBatch({
            topic,
            producerId: 'rogue',
            sequence,
            events,
            ...(store ? { store } : {}),
          }),
        );
      const evicting = [
        { type: 'new-object', metadata: {}, evict: true, body: { kind: 'stored', key } } as never,
      ];
      await admin.rpush(
        topic,
        batch(0, evicting, forged({ prefix: victim })),
        batch(1, evicting, forged({ cluster: true })),
        batch(2, [{ type: 'end-of-stream' } as never]),
      );
      for (const what of ['the forged prefix', 'the forged cluster config']) {
        const error = await within(caught(consumer.nextObject()), 5_000, what);
        expect(error, what).toBeInstanceOf(StoreNotAllowedError);
      }
      expect(await within(consumer.nextObject(), 10_000, 'end')).toEqual({
        done: true,
        value: undefined,
      });
      expect(await admin.get(`${victim}${key}`)).toBe('secret session');
    } finally {
      await consumer.close({ stores: true });
      await admin.del(`${victim}${key}`);
    }
  });

  it('a key that is not one a store made cannot reach outside the prefix: InvalidStoreKeyError, nothing deleted', async () => {
    const store = await new RedisStoreFactory({ allowedServers: [`${host}:${port}`] }).open(
      forged({ prefix: 'proxystream:store-factory-keys:' }),
    );
    const outside = `store-factory-outside-${randomUUID()}`;
    await admin.set(outside, 'keep');
    try {
      for (const key of [
        `../${outside}`,
        `x${anyKey}`,
        `${anyKey}:${outside}`,
        `${anyKey}\n`,
        '*',
        'ABCDEF00-0000-4000-8000-000000000000',
      ]) {
        expect(await caught(store.evict(key)), key).toBeInstanceOf(InvalidStoreKeyError);
        expect(await caught(store.get(key)), key).toBeInstanceOf(InvalidStoreKeyError);
      }
      expect(await admin.get(outside)).toBe('keep');
    } finally {
      await store.close();
      await admin.del(outside);
    }
  });

  it('by default allows only the factory’s own db (redisOptions.db, else 0); allowedDbs widens it', async () => {
    const factory = new RedisStoreFactory({ allowedServers: [`${host}:${port}`] });
    for (const db of [1, 15]) {
      expect(await caught(factory.open(forged({ db })))).toBeInstanceOf(StoreNotAllowedError);
    }
    await (await factory.open(forged({ db: 0 }))).close();
    const onTwo = new RedisStoreFactory({
      allowedServers: [`${host}:${port}`],
      redisOptions: { db: 2 },
    });
    expect(await caught(onTwo.open(forged({ db: 0 })))).toBeInstanceOf(StoreNotAllowedError);
    await (await onTwo.open(forged({ db: 2 }))).close();
    const widened = new RedisStoreFactory({
      allowedServers: [`${host}:${port}`],
      allowedDbs: [0, 1],
    });
    await (await widened.open(forged({ db: 1 }))).close();
    expect(await caught(widened.open(forged({ db: 2 })))).toBeInstanceOf(StoreNotAllowedError);
  });
});

describe('RedisStoreFactory: allowedServers entries', () => {
  it('a host:port entry allows that one port; a bare host allows any port of that host', async () => {
    const trap = await connectionTrap();
    try {
      const config = forged({ host: '127.0.0.1', port: trap.port });
      const onePort = new RedisStoreFactory({ allowedServers: ['127.0.0.1:6379'] });
      expect(await caught(onePort.open(config))).toBeInstanceOf(StoreNotAllowedError);
      expect(trap.connections()).toBe(0);
      const exact = new RedisStoreFactory({ allowedServers: [`127.0.0.1:${trap.port}`] });
      await (await exact.open(config)).close();
      expect(await caught(exact.open(forged({ host: '127.0.0.1', port: 6379 })))).toBeInstanceOf(
        StoreNotAllowedError,
      );
      const bare = new RedisStoreFactory({ allowedServers: ['127.0.0.1'] });
      await (await bare.open(config)).close();
      await (await bare.open(forged({ host: '127.0.0.1', port: 6379 }))).close();
      expect(await caught(bare.open(forged({ host: 'localhost' })))).toBeInstanceOf(
        StoreNotAllowedError,
      );
    } finally {
      await trap.close();
    }
  });
});
