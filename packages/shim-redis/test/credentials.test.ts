import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { collect, label, readLabel, uniqueTopic, within } from '@proxystream/contract-tests';
import {
  BrokerError,
  type ProxyStreamError,
  type Publisher,
  StoreError,
  type Subscriber,
} from '@proxystream/protocols';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type RedisConnection,
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStore,
  RedisStoreFactory,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';

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

/** Every rendering of `value` a log line or a report could hold, cause chain included. */
function renderings(value: unknown): string {
  const parts = [String(value), inspect(value, { depth: 8, showHidden: false })];
  try {
    parts.push(JSON.stringify(value));
  } catch {
    // Circular: inspect covers it.
  }
  for (let error = value; error instanceof Error; error = error.cause) {
    parts.push(error.message, error.stack ?? '');
  }
  return parts.join('\n');
}

/** Captures what the code under test writes to stdout, stderr and the console. */
function captureOutput(): () => string {
  const written: string[] = [];
  const record = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const spies = [
    vi.spyOn(process.stderr, 'write').mockImplementation(record),
    vi.spyOn(process.stdout, 'write').mockImplementation(record),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args) => void written.push(args.join(' '))),
    ),
  ];
  return () => {
    for (const spy of spies) spy.mockRestore();
    return written.join('\n');
  };
}

interface Shim {
  name: string;
  publisher(connection: RedisConnection): Publisher;
  subscriber(topic: string, connection: RedisConnection): Promise<Subscriber>;
}

const shims: Shim[] = [
  {
    name: 'pub/sub',
    publisher: (connection) => new RedisPubSubPublisher({ connection }),
    subscriber: (topic, connection) => RedisPubSubSubscriber.create(topic, { connection }),
  },
  {
    name: 'list queue',
    publisher: (connection) => new RedisQueuePublisher({ connection }),
    subscriber: (topic, connection) => RedisQueueSubscriber.create(topic, { connection }),
  },
  {
    name: 'streams',
    publisher: (connection) => new RedisStreamsPublisher({ connection }),
    subscriber: (topic, connection) =>
      RedisStreamsSubscriber.create(topic, { connection, group: 'credentials' }),
  },
];

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await within(
    Promise.all(cleanup.splice(0).map((step) => step().catch(() => {}))),
    30_000,
    'cleanup',
  );
});

for (const shim of shims) {
  describe(`Redis ${shim.name} with credentials`, () => {
    it.each([
      ['a password', withPassword],
      ['an ACL user and password', asUser],
      ['an ACL user and password in the URL', asUserUrl],
    ] as const)('connects with %s and carries messages', async (_what, connection) => {
      const topic = uniqueTopic('auth');
      const subscriber = await shim.subscriber(topic, connection);
      cleanup.push(() => subscriber.close());
      const publisher = shim.publisher(connection);
      cleanup.push(() => publisher.close());
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
        const output = captureOutput();
        let logged = '';
        try {
          const topic = uniqueTopic('auth-refused');
          const subscribing = await within(
            shim.subscriber(topic, connection).catch((e: unknown) => e),
            30_000,
            'subscribing without credentials',
          );
          const publisher = shim.publisher(connection);
          cleanup.push(() => publisher.close());
          const sending = await within(
            // Pub/sub does not wait for Redis's reply: its failure surfaces at close().
            publisher
              .send(topic, label('x'))
              .then(() => publisher.close())
              .catch((e: unknown) => e),
            30_000,
            'sending without credentials',
          );
          for (const error of [subscribing, sending]) {
            expect(error).toBeInstanceOf(BrokerError);
            expect((error as BrokerError).message).toContain(reason);
            expect(renderings(error)).not.toContain(WRONG);
            expect(renderings(error)).not.toContain(SECRET);
          }
        } finally {
          logged = output();
        }
        expect(logged).not.toContain(WRONG);
      },
    );
  });
}

describe('Redis store with credentials', () => {
  it('puts and gets with credentials; its config from the wire holds none, the receiving factory brings its own', async () => {
    for (const connection of [withPassword, asUser, asUserUrl]) {
      const store = new RedisStore({ connection, prefix: 'credentials:' });
      cleanup.push(() => store.close());
      const key = await store.put(label('stored'));
      expect(readLabel((await store.get(key))!)).toBe('stored');
      const config = store.config();
      expect(renderings(config)).not.toContain(SECRET);
      const factory = new RedisStoreFactory({
        allowedHosts: [`${host}:${port}`],
        redisOptions: { username: 'streamer', password: SECRET },
      });
      const reopened = await factory.open(JSON.parse(JSON.stringify(config)));
      cleanup.push(() => reopened.close());
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
      const output = captureOutput();
      let logged = '';
      try {
        const store = new RedisStore({ connection, prefix: 'credentials:' });
        cleanup.push(() => store.close());
        const key = '00000000-0000-4000-8000-000000000000';
        const factory = new RedisStoreFactory({
          allowedHosts: [`${host}:${port}`],
          redisOptions: connection,
        });
        const reopened = await factory.open(
          new RedisStore({ connection: { ...withPassword, lazyConnect: true } }).config(),
        );
        cleanup.push(() => reopened.close());
        const outcomes = await within(
          Promise.all([
            store.put(label('x')).catch((e: unknown) => e),
            store.get(key).catch((e: unknown) => e),
            store.exists(key).catch((e: unknown) => e),
            reopened.get(key).catch((e: unknown) => e),
          ]),
          30_000,
          'store operations without credentials',
        );
        for (const error of outcomes) {
          expect(error).toBeInstanceOf(StoreError);
          expect((error as ProxyStreamError).message).toContain(reason);
          expect(renderings(error)).not.toContain(WRONG);
          expect(renderings(error)).not.toContain(SECRET);
        }
      } finally {
        logged = output();
      }
      expect(logged).not.toContain(WRONG);
    },
  );

  it('puts the password in its config only when told to', async () => {
    const quiet = new RedisStore({ connection: { ...asUser, lazyConnect: true } });
    const telling = new RedisStore({
      connection: { ...asUser, lazyConnect: true },
      includeCredentialsInConfig: true,
    });
    cleanup.push(
      () => quiet.close(),
      () => telling.close(),
    );
    expect(renderings(quiet.config())).not.toContain(SECRET);
    expect(telling.config()).toMatchObject({ username: 'streamer', password: SECRET });
  });
});
