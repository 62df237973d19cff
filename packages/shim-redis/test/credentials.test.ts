import { randomBytes } from 'node:crypto';
import {
  closeAfterEach,
  collect,
  expectRefusedWithoutLeaks,
  label,
  readLabel,
  renderings,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { BrokerError, StoreError } from '@proxystream/protocols';
import { Redis, type RedisOptions } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, RedisStoreFactory } from '../src/index.js';
import { messagingShims } from './messaging-shims.js';

// The server `bash scripts/brokers.sh start redis_auth` runs: `requirepass` for the default user
// and the ACL user `streamer`, both with PROXYSTREAM_TEST_SECRET.
const SECRET = process.env.PROXYSTREAM_TEST_SECRET ?? 's3cret-for-tests';
const AUTH_URL = process.env.REDIS_AUTH_URL ?? 'redis://127.0.0.1:6380';
const { hostname: host, port: portText } = new URL(AUTH_URL);
const port = Number(portText || 6380);
/** A wrong password: must never be echoed either. */
const WRONG = `wrong-${randomBytes(6).toString('hex')}`;

const withPassword: RedisOptions = { host, port, password: SECRET };
const asUser: RedisOptions = { host, port, username: 'streamer', password: SECRET };
const asUserUrl = `redis://streamer:${encodeURIComponent(SECRET)}@${host}:${port}`;
const without: RedisOptions = { host, port };
const wrong: RedisOptions = { host, port, username: 'streamer', password: WRONG };

beforeAll(async () => {
  const probe = new Redis({ ...withPassword, lazyConnect: true, maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new Error(
      `no Redis with credentials at ${AUTH_URL}: start it with \`bash scripts/brokers.sh start redis_auth\``,
      { cause: error },
    );
  } finally {
    probe.disconnect();
  }
});

const { track } = closeAfterEach();

for (const shim of messagingShims) {
  describe(`Redis ${shim.name} with credentials`, () => {
    it.each([
      ['a password', withPassword],
      ['an ACL user and password', asUser],
      ['an ACL user and password in the URL', asUserUrl],
    ] as const)('connects with %s and carries messages', async (_what, connection) => {
      const topic = uniqueTopic('auth');
      const subscriber = track(await shim.subscriber(topic, connection, 'credentials'));
      const publisher = track(await shim.publisher(connection));
      await publisher.send(topic, label('hello'));
      const [message] = await collect(subscriber, 1);
      expect(readLabel(message!)).toBe('hello');
    });

    it.each([
      ['no credentials', without, 'NOAUTH'],
      ['a wrong password', wrong, 'WRONGPASS'],
    ] as const)(
      'with %s, subscribing and sending fail with BrokerError saying why, and echo no password',
      async (_what, connection, reason) => {
        const topic = uniqueTopic('auth-refused');
        await expectRefusedWithoutLeaks(
          async () => {
            const subscribing = await within(
              shim.subscriber(topic, connection, 'credentials').catch((e: unknown) => e),
              30_000,
              'subscribing without credentials',
            );
            const publisher = track(await shim.publisher(connection));
            const sending = await within(
              // Pub/sub does not wait for Redis's reply: its failure surfaces at close().
              publisher
                .send(topic, label('x'))
                .then(() => publisher.close())
                .catch((e: unknown) => e),
              30_000,
              'sending without credentials',
            );
            return [subscribing, sending];
          },
          { error: BrokerError, reason, secrets: [WRONG, SECRET] },
        );
      },
    );
  });
}

describe('Redis store with credentials', () => {
  it('puts and gets with credentials; its config from the wire holds none, the receiving factory brings its own', async () => {
    for (const connection of [withPassword, asUser, asUserUrl]) {
      const store = track(await RedisStore.create({ connection, prefix: 'credentials:' }));
      const key = await store.put(label('stored'));
      expect(readLabel((await store.get(key))!)).toBe('stored');
      const config = store.config();
      expect(renderings(config)).not.toContain(SECRET);
      const factory = new RedisStoreFactory({
        allowedServers: [`${host}:${port}`],
        allowedPrefixes: ['credentials:'],
        redisOptions: { username: 'streamer', password: SECRET },
      });
      const reopened = track(await factory.open(JSON.parse(JSON.stringify(config))));
      expect(readLabel((await reopened.get(key))!)).toBe('stored');
      await reopened.evict(key);
    }
  });

  it.each([
    ['no credentials', without, 'NOAUTH'],
    ['a wrong password', wrong, 'WRONGPASS'],
  ] as const)(
    'with %s every operation fails with StoreError saying why, and echoes no password',
    async (_what, connection, reason) => {
      await expectRefusedWithoutLeaks(
        async () => {
          const store = track(await RedisStore.create({ connection, prefix: 'credentials:' }));
          const key = '00000000-0000-4000-8000-000000000000';
          const factory = new RedisStoreFactory({
            allowedServers: [`${host}:${port}`],
            redisOptions: connection,
          });
          const reopened = track(
            await factory.open(
              (
                await RedisStore.create({ connection: { ...withPassword, lazyConnect: true } })
              ).config(),
            ),
          );
          return within(
            Promise.all([
              store.put(label('x')).catch((e: unknown) => e),
              store.get(key).catch((e: unknown) => e),
              store.exists(key).catch((e: unknown) => e),
              reopened.get(key).catch((e: unknown) => e),
            ]),
            30_000,
            'store operations without credentials',
          );
        },
        { error: StoreError, reason, secrets: [WRONG, SECRET] },
      );
    },
  );

  it('puts the password in its config only when told to', async () => {
    const quiet = await RedisStore.create({ connection: { ...asUser, lazyConnect: true } });
    const telling = await RedisStore.create({
      connection: { ...asUser, lazyConnect: true },
      includeCredentialsInConfig: true,
    });
    track(quiet);
    track(telling);
    expect(renderings(quiet.config())).not.toContain(SECRET);
    expect(telling.config()).toMatchObject({ username: 'streamer', password: SECRET });
  });
});
