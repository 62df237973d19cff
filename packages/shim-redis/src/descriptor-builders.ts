import { randomBytes } from 'node:crypto';
import type { Publisher, Store, StoreFactory, Subscriber } from '@proxystream/protocols';
import type {
  BrokerRequirement,
  ClusterFailover,
  DescriptorStore,
  DescriptorSubscribeOptions,
  RestartExpectation,
  ShimDescriptor,
  ShimEnvironment,
} from '@proxystream/protocols/kit';
import {
  redisPubSubCapabilities,
  redisQueueCapabilities,
  redisStreamsCapabilities,
} from './capabilities.js';
import type { RedisClient, RedisConnection } from './connection.js';
import { RedisPubSubPublisher } from './pubsub-publisher.js';
import { RedisPubSubSubscriber } from './pubsub-subscriber.js';
import { RedisQueuePublisher } from './queue-publisher.js';
import { RedisQueueSubscriber } from './queue-subscriber.js';
import { RedisStore } from './store.js';
import { RedisStoreFactory } from './store-factory.js';
import { RedisStreamsPublisher, STREAM_DATA_FIELD } from './streams-publisher.js';
import { RedisStreamsSubscriber } from './streams-subscriber.js';

/** A connection for one shim, and what to close after the shim (a client made for it). */
export interface DeploymentConnection {
  readonly connection: RedisConnection;
  /** Closes what was opened for the shim, after the shim's own `close()`; none for a URL. */
  release?(): void;
}

/**
 * Where the descriptors of {@link redisDescriptorsOn} run: a single server or a cluster. Each
 * descriptor's code is written once, against this.
 */
export interface RedisDeployment {
  /** Appended to the descriptors' names and titles: `''` / `'-cluster'`, `''` / `' on a cluster'`. */
  readonly nameSuffix: string;
  readonly titleSuffix: string;
  readonly broker: BrokerRequirement;
  /** The connection a shim gets. */
  connect(env: ShimEnvironment): DeploymentConnection;
  /** Runs `work` on a short-lived raw client, then disconnects it. */
  withRawClient<T>(env: ShimEnvironment, work: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Publishes as the raw client would (`PUBLISH`, or `SPUBLISH` on a cluster). */
  publishRaw(client: RedisClient, topic: string, bytes: Buffer): Promise<unknown>;
  /** Deletes the key `topic` and every key of its hash slot `{topic}…`. */
  deleteTopic(env: ShimEnvironment, topic: string): Promise<void>;
  /** `host:port` of every server, as `RedisStoreFactory.allowedServers` lists them. */
  servers(env: ShimEnvironment): string[];
  /** Whether the store factory opens cluster configs. */
  readonly cluster: boolean;
  /** The failover cases' node chooser, on a cluster. */
  readonly failover?: ClusterFailover;
}

/** The three descriptors and the store of one deployment. */
export interface RedisDescriptorSet {
  readonly pubSub: ShimDescriptor;
  readonly list: ShimDescriptor;
  readonly streams: ShimDescriptor;
  readonly store: DescriptorStore;
}

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

/** Prefix of every store a descriptor makes; its factory allows only this. */
const STORE_PREFIX = 'proxystream-descriptor:';

/**
 * `shim`, whose `close()` (and `Symbol.asyncDispose`) also releases the connection made for it:
 * a shim never closes a client it was given.
 */
function releasing<T extends { close(): Promise<void> }>(shim: T, release: () => void): T {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= shim.close().finally(release);
    return closing;
  };
  return new Proxy(shim, {
    get(target, property) {
      if (property === 'close' || property === Symbol.asyncDispose) return close;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Opens a shim on a connection of `deployment`, releasing the connection if opening fails. */
async function opened<T extends { close(): Promise<void> }>(
  deployment: RedisDeployment,
  env: ShimEnvironment,
  open: (connection: RedisConnection) => Promise<T>,
): Promise<T> {
  const { connection, release } = deployment.connect(env);
  if (release === undefined) return open(connection);
  try {
    return releasing(await open(connection), release);
  } catch (error) {
    release();
    throw error;
  }
}

function signalOf(options: DescriptorSubscribeOptions): { signal?: AbortSignal } {
  return options.signal === undefined ? {} : { signal: options.signal };
}

/**
 * The Redis pub/sub, list-queue and Streams descriptors and the Redis store on `deployment`:
 * `redis-pubsub`, `redis-list`, `redis-streams` plus its `nameSuffix`.
 */
export function redisDescriptorsOn(deployment: RedisDeployment): RedisDescriptorSet {
  const { nameSuffix, titleSuffix, broker } = deployment;
  const cluster = deployment.failover === undefined ? {} : { failover: deployment.failover };

  const store: DescriptorStore = Object.freeze({
    async create(env: ShimEnvironment): Promise<Store> {
      return opened(deployment, env, (connection) =>
        RedisStore.create({
          connection,
          prefix: `${STORE_PREFIX}${randomBytes(6).toString('hex')}:`,
        }),
      );
    },
    factory(env: ShimEnvironment): StoreFactory {
      return new RedisStoreFactory({
        allowedServers: deployment.servers(env),
        allowedPrefixes: [STORE_PREFIX],
        allowCluster: deployment.cluster,
      });
    },
  });

  const pubSub: ShimDescriptor = Object.freeze({
    name: `redis-pubsub${nameSuffix}`,
    title: `Redis pub/sub${titleSuffix}`,
    packageName: '@proxystream/shim-redis',
    broker,
    capabilities: redisPubSubCapabilities,
    invalidTopics: INVALID_TOPICS,
    publisher: (env: ShimEnvironment): Promise<Publisher> =>
      opened(deployment, env, (connection) => RedisPubSubPublisher.create({ connection })),
    subscriber: (
      env: ShimEnvironment,
      topic: string,
      options: DescriptorSubscribeOptions = {},
    ): Promise<Subscriber> =>
      // A `group` is ignored (pub/sub has none; the shim itself refuses one): the fault scenarios
      // pass one to every shim, and `competingConsumers: false` keeps the contract from relying on it.
      opened(deployment, env, (connection) =>
        RedisPubSubSubscriber.create(topic, {
          connection,
          ...signalOf(options),
          ...(options.onLoss === undefined ? {} : { onLoss: options.onLoss }),
        }),
      ),
    publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
      deployment.withRawClient(env, async (client) => {
        await deployment.publishRaw(client, topic, Buffer.from(bytes));
      }),
    cleanup: async (): Promise<void> => {},
    ...cluster,
  });

  // A command replayed after the reconnect (or the failover) may store a batch twice. A read
  // whose reply the restart cut leaves its message in the subscriber's pending list, delivered on
  // the first read after the reconnect: at most that one message (10 events in the fault
  // scenarios) late.
  const listRestart: RestartExpectation = Object.freeze({
    stored: 'every-event-at-least-once',
    maxReordered: 10,
  });
  const list: ShimDescriptor = Object.freeze({
    name: `redis-list${nameSuffix}`,
    title: `Redis list queue${titleSuffix}`,
    packageName: '@proxystream/shim-redis',
    broker,
    capabilities: redisQueueCapabilities,
    invalidTopics: INVALID_TOPICS,
    publisher: (env: ShimEnvironment): Promise<Publisher> =>
      opened(deployment, env, (connection) => RedisQueuePublisher.create({ connection })),
    subscriber: (
      env: ShimEnvironment,
      topic: string,
      options: DescriptorSubscribeOptions = {},
    ): Promise<Subscriber> =>
      opened(deployment, env, (connection) =>
        RedisQueueSubscriber.create(topic, {
          connection,
          // The list is the group: every subscriber of a topic shares its messages.
          ...(options.group === undefined ? {} : { group: options.group }),
          ...signalOf(options),
          ...(options.readCount === undefined ? {} : { count: options.readCount }),
        }),
      ),
    publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
      deployment.withRawClient(env, async (client) => {
        await client.rpush(topic, Buffer.from(bytes));
      }),
    cleanup: (env: ShimEnvironment, topic: string) => deployment.deleteTopic(env, topic),
    store,
    restart: listRestart,
    ...cluster,
  });

  // As for the list; a read whose reply the restart cut is read again from the pending entries,
  // or claimed after claimIdleMs: at most one read (64 messages of 10 events) late.
  const streamsRestart: RestartExpectation = Object.freeze({
    stored: 'every-event-at-least-once',
    maxReordered: 640,
  });
  const streams: ShimDescriptor = Object.freeze({
    name: `redis-streams${nameSuffix}`,
    title: `Redis Streams${titleSuffix}`,
    packageName: '@proxystream/shim-redis',
    broker,
    capabilities: redisStreamsCapabilities,
    invalidTopics: INVALID_TOPICS,
    publisher: (env: ShimEnvironment): Promise<Publisher> =>
      opened(deployment, env, (connection) => RedisStreamsPublisher.create({ connection })),
    subscriber: (
      env: ShimEnvironment,
      topic: string,
      options: DescriptorSubscribeOptions = {},
    ): Promise<Subscriber> =>
      opened(deployment, env, (connection) =>
        RedisStreamsSubscriber.create(topic, {
          connection,
          ...(options.group === undefined ? {} : { group: options.group }),
          ...signalOf(options),
          count: options.readCount ?? 64,
          // A delivery cut by a kill or restart is claimed again (and waited for by
          // StreamConsumer) within about a second with fastRedelivery, within seconds otherwise.
          ...(options.fastRedelivery === true
            ? { claimIdleMs: 1_000, claimIntervalMs: 250 }
            : { claimIdleMs: 10_000, claimIntervalMs: 2_000 }),
        }),
      ),
    publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array): Promise<void> =>
      deployment.withRawClient(env, async (client) => {
        await client.xadd(topic, '*', STREAM_DATA_FIELD, Buffer.from(bytes));
      }),
    cleanup: (env: ShimEnvironment, topic: string) => deployment.deleteTopic(env, topic),
    store,
    restart: streamsRestart,
    ...cluster,
  });

  return Object.freeze({ pubSub, list, streams, store });
}
