/**
 * The Redis shims as the project's tooling sees them: one {@link ShimDescriptor} per shim (pub/sub,
 * list queue, Streams), the Redis store as a {@link DescriptorStore}, and the list shim's own read
 * script for the bench's raw contender. The contract suite, the bench and the soak runner iterate
 * over {@link descriptors} instead of keeping tables of their own.
 *
 * @example
 * ```ts
 * import { descriptors } from '@proxystream/shim-redis/testing';
 * for (const descriptor of descriptors) {
 *   await using publisher = await descriptor.publisher(process.env);
 *   // …
 * }
 * ```
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import type { Publisher, Store, StoreFactory, Subscriber } from '@proxystream/protocols';
import {
  type BrokerRequirement,
  brokerAddress,
  type DescriptorStore,
  type DescriptorSubscribeOptions,
  type ShimDescriptor,
  type ShimEnvironment,
} from '@proxystream/protocols/kit';
import { Redis } from 'ioredis';
import {
  redisPubSubCapabilities,
  redisQueueCapabilities,
  redisStreamsCapabilities,
} from './capabilities.js';
import { DEFAULT_REDIS_URL } from './connection.js';
import { RedisPubSubPublisher } from './pubsub-publisher.js';
import { RedisPubSubSubscriber } from './pubsub-subscriber.js';
import { RedisQueuePublisher } from './queue-publisher.js';
import { RedisQueueSubscriber, TAKE_SCRIPT } from './queue-subscriber.js';
import { RedisStore } from './store.js';
import { RedisStoreFactory } from './store-factory.js';
import { RedisStreamsPublisher, STREAM_DATA_FIELD } from './streams-publisher.js';
import { RedisStreamsSubscriber } from './streams-subscriber.js';

/**
 * The list-queue shim's own read script (`RedisQueueSubscriber` with `count > 1` runs exactly
 * this): moves up to `ARGV[1]` messages from the head of the queue `KEYS[1]` to the pending list
 * `KEYS[2]` atomically, without blocking, and returns them. Exported so that the bench's raw
 * ioredis contender reads the way the shim does instead of keeping a copy.
 */
export const QUEUE_TAKE_SCRIPT: string = TAKE_SCRIPT;

/** The Redis server every descriptor uses: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const redisBroker: BrokerRequirement = Object.freeze({
  name: 'redis',
  variable: 'REDIS_URL',
  defaultAddress: DEFAULT_REDIS_URL,
});

/** Topics every Redis shim refuses: whitespace, control and glob characters, braces, too long. */
const INVALID_TOPICS: readonly string[] = Object.freeze([
  'bad topic',
  'tab\there',
  'new\nline',
  'glob*',
  'what?',
  '[set]',
  'back\\slash',
  '{tag}',
  'x'.repeat(1025),
]);

/** Runs `work` on a short-lived raw ioredis client of `env`'s server, then disconnects it. */
async function withRawClient<T>(
  env: ShimEnvironment,
  work: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis(brokerAddress(redisBroker, env), {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await work(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Deletes the key `topic` (the list or the stream) and every key in its hash slot `{topic}…`
 * (the list shim's pending lists, their registry and acknowledgement marks).
 */
function deleteTopic(env: ShimEnvironment, topic: string): Promise<void> {
  return withRawClient(env, async (client) => {
    const keys = [topic];
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `{${topic}}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    await client.unlink(...keys);
  });
}

const connection = (env: ShimEnvironment): string => brokerAddress(redisBroker, env);

/** Prefix of every store {@link redisStoreDescriptor} makes; its factory allows only this. */
const STORE_PREFIX = 'proxystream-descriptor:';

/** The address `host:port` of `env`'s server, as `RedisStoreFactory.allowedServers` lists it. */
function serverOf(env: ShimEnvironment): string {
  const url = new URL(connection(env));
  return `${url.hostname}:${url.port || '6379'}`;
}

/**
 * The Redis store on the descriptors' server: each `create` makes a store under a fresh prefix
 * below `proxystream-descriptor:`; the factory allows that server and prefix only.
 */
export const redisStoreDescriptor: DescriptorStore = Object.freeze({
  create(env: ShimEnvironment): Promise<Store> {
    return RedisStore.create({
      connection: connection(env),
      prefix: `${STORE_PREFIX}${randomBytes(6).toString('hex')}:`,
    });
  },
  factory(env: ShimEnvironment): StoreFactory {
    return new RedisStoreFactory({
      allowedServers: [serverOf(env)],
      allowedPrefixes: [STORE_PREFIX],
    });
  },
});

/** Redis pub/sub (`PUBLISH` / `SUBSCRIBE`): fan-out, nothing kept, losses reported by `next()`. */
export const redisPubSubDescriptor: ShimDescriptor = Object.freeze({
  name: 'redis-pubsub',
  title: 'Redis pub/sub',
  packageName: '@proxystream/shim-redis',
  broker: redisBroker,
  capabilities: redisPubSubCapabilities,
  invalidTopics: INVALID_TOPICS,
  publisher: (env: ShimEnvironment): Promise<Publisher> =>
    RedisPubSubPublisher.create({ connection: connection(env) }),
  subscriber: (
    env: ShimEnvironment,
    topic: string,
    options: DescriptorSubscribeOptions = {},
  ): Promise<Subscriber> =>
    // A `group` is ignored (pub/sub has none; the shim itself refuses one): the fault scenarios
    // pass one to every shim, and `competingConsumers: false` keeps the contract from relying on it.
    RedisPubSubSubscriber.create(topic, {
      connection: connection(env),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onLoss === undefined ? {} : { onLoss: options.onLoss }),
    }),
  publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
    withRawClient(env, async (client) => {
      await client.publish(topic, Buffer.from(bytes));
    }),
  cleanup: async (): Promise<void> => {},
});

/** The Redis list queue (`RPUSH` / `BLMOVE`): competing consumers, acknowledged, persistent. */
export const redisListDescriptor: ShimDescriptor = Object.freeze({
  name: 'redis-list',
  title: 'Redis list queue',
  packageName: '@proxystream/shim-redis',
  broker: redisBroker,
  capabilities: redisQueueCapabilities,
  invalidTopics: INVALID_TOPICS,
  publisher: (env: ShimEnvironment): Promise<Publisher> =>
    RedisQueuePublisher.create({ connection: connection(env) }),
  subscriber: (
    env: ShimEnvironment,
    topic: string,
    options: DescriptorSubscribeOptions = {},
  ): Promise<Subscriber> =>
    RedisQueueSubscriber.create(topic, {
      connection: connection(env),
      // The list is the group: every subscriber of a topic shares its messages.
      ...(options.group === undefined ? {} : { group: options.group }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.readCount === undefined ? {} : { count: options.readCount }),
    }),
  publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
    withRawClient(env, async (client) => {
      await client.rpush(topic, Buffer.from(bytes));
    }),
  cleanup: deleteTopic,
  store: redisStoreDescriptor,
  // A command replayed after the reconnect may store a batch twice. A read whose reply the
  // restart cut leaves its message in the subscriber's pending list, delivered on the first read
  // after the reconnect: at most that one message (10 events in the fault scenarios) late.
  restart: Object.freeze({ stored: 'every-event-at-least-once', maxReordered: 10 }),
});

/** Redis Streams with consumer groups (`XADD` / `XREADGROUP`): fan-out and groups, acknowledged. */
export const redisStreamsDescriptor: ShimDescriptor = Object.freeze({
  name: 'redis-streams',
  title: 'Redis Streams',
  packageName: '@proxystream/shim-redis',
  broker: redisBroker,
  capabilities: redisStreamsCapabilities,
  invalidTopics: INVALID_TOPICS,
  publisher: (env: ShimEnvironment): Promise<Publisher> =>
    RedisStreamsPublisher.create({ connection: connection(env) }),
  subscriber: (
    env: ShimEnvironment,
    topic: string,
    options: DescriptorSubscribeOptions = {},
  ): Promise<Subscriber> =>
    RedisStreamsSubscriber.create(topic, {
      connection: connection(env),
      ...(options.group === undefined ? {} : { group: options.group }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      count: options.readCount ?? 64,
      // A delivery cut by a kill or restart is claimed again (and waited for by StreamConsumer)
      // within about a second with fastRedelivery, within seconds otherwise (default 30 s).
      ...(options.fastRedelivery === true
        ? { claimIdleMs: 1_000, claimIntervalMs: 250 }
        : { claimIdleMs: 10_000, claimIntervalMs: 2_000 }),
    }),
  publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
    withRawClient(env, async (client) => {
      await client.xadd(topic, '*', STREAM_DATA_FIELD, Buffer.from(bytes));
    }),
  cleanup: deleteTopic,
  // A command replayed after the reconnect may store a batch twice. A read whose reply the
  // restart cut is read again from the pending entries, or claimed after claimIdleMs: at most one
  // read (64 messages of 10 events in the fault scenarios) late.
  restart: Object.freeze({ stored: 'every-event-at-least-once', maxReordered: 640 }),
});

/** The three Redis shims, in the order the bench and the soak runner report them. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([
  redisPubSubDescriptor,
  redisListDescriptor,
  redisStreamsDescriptor,
]);
