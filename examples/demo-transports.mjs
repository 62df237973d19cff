// The brokers and stores of the dispatcher demo, made from serialisable settings.
//
// Each thread and process of the demo (the producer, the dispatcher, every worker) opens its own
// publisher, subscriber or store from the same plain settings object, so the settings cross a
// `postMessage` or a command line and nothing else does. The brokers are the shims' descriptors
// (`@proxystream/shim-<x>/testing`): each shim states there, once, how to make its publisher and
// subscriber from a broker address, which broker it needs (`scripts/brokers.sh start <name>`) and
// how to clean a topic up. An application would call the shims' `create` factories itself, as the
// descriptors do; the stores below do that, and so do ZeroMQ (whose descriptors meet in one
// process) and the worker-threads broker (whose producer gets a MessagePort, not settings).

import { mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withoutUserInfo } from '@proxystream/protocols/kit';
import {
  FileStore,
  FileStoreFactory,
  MemoryStore,
  MemoryStoreFactory,
  SharedMemoryStore,
  SharedMemoryStoreFactory,
  ThreadsBroker,
  ThreadsPublisher,
  ThreadsSubscriber,
} from '@proxystream/stream';

/** A mistake in the command line: printed with a hint, exit status 2. */
export class UsageError extends Error {}

/** A broker that did not answer: printed with how to start one, exit status 3. */
export class BrokerUnavailableError extends Error {}

const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
const DEFAULT_NATS = 'nats://127.0.0.1:4222';

// ---------------------------------------------------------------- brokers

/**
 * Every `--broker` the demo knows, with its `--mode`s. `load(mode)` imports the shim's descriptor
 * (lazily: a run on one broker loads no other broker's client); `env(address)` is the
 * descriptor's environment for that address.
 */
const BROKERS = {
  redis: {
    modes: ['list', 'pubsub', 'streams'],
    defaultMode: 'list',
    async load(mode) {
      const shim = await import('@proxystream/shim-redis/testing');
      return {
        list: shim.redisListDescriptor,
        pubsub: shim.redisPubSubDescriptor,
        streams: shim.redisStreamsDescriptor,
      }[mode];
    },
    env: (address) => ({ REDIS_URL: address }),
  },
  nats: {
    modes: ['jetstream', 'core'],
    defaultMode: 'jetstream',
    async load(mode) {
      const shim = await import('@proxystream/shim-nats/testing');
      return { core: shim.natsDescriptor, jetstream: shim.jetStreamDescriptor }[mode];
    },
    env: (address) => ({ NATS_URL: address }),
  },
  kafka: {
    modes: ['consumer-group'],
    defaultMode: 'consumer-group',
    async load() {
      return (await import('@proxystream/shim-kafka/testing')).kafkaDescriptor;
    },
    // `kafka://host:port,host:port` → KAFKA_BROKERS=host:port,host:port
    env: (address) => ({ KAFKA_BROKERS: address.slice('kafka://'.length) }),
  },
  zmq: {
    modes: ['pushpull', 'pubsub'],
    defaultMode: 'pushpull',
    // ZeroMQ has no broker: the dispatcher's subscriber binds the endpoint, every producer's
    // publisher connects to it. The shim's descriptors keep their rendezvous in one process (for
    // the contract), so the demo makes its sockets with the shim's `create` factories instead,
    // in the same shape.
    async load(mode) {
      const zmq = await import('@proxystream/shim-zeromq');
      const { zmqPubSubDescriptor, zmqPushPullDescriptor } = await import(
        '@proxystream/shim-zeromq/testing'
      );
      const [descriptor, Publisher, Subscriber] =
        mode === 'pushpull'
          ? [zmqPushPullDescriptor, zmq.ZmqPushPublisher, zmq.ZmqPullSubscriber]
          : [zmqPubSubDescriptor, zmq.ZmqPublisher, zmq.ZmqSubscriber];
      return {
        name: descriptor.name,
        title: descriptor.title,
        broker: undefined,
        async publisher(env) {
          const publisher = await Publisher.create({ connect: env.endpoint });
          // ZeroMQ's "slow joiner": a PUB socket drops what it sends before the subscription
          // arrived over the new connection, and nothing on the PUB side says when it did. The
          // demo gives the handshake a second (plenty on one host, even a loaded one); PUSH/PULL
          // needs none, its send waits for a peer.
          if (mode === 'pubsub') await new Promise((resolve) => setTimeout(resolve, 1_000));
          return publisher;
        },
        subscriber: (env, topic) => Subscriber.create(topic, { bind: env.endpoint }),
      };
    },
    // `zmq://host:port` → the TCP endpoint `tcp://host:port`
    env: (address) => ({ endpoint: `tcp://${address.slice('zmq://'.length)}` }),
  },
};

/**
 * A worker-threads broker in this thread, and a subscriber of `topic` on it with a small buffer
 * (as the in-process broker's): when the workers fall behind, the producer's `send` waits.
 */
export async function openThreadsBroker(topic) {
  const broker = await ThreadsBroker.create();
  try {
    const subscriber = await ThreadsSubscriber.create(topic, {
      connection: broker,
      maxBufferedMessages: 4,
    });
    return { broker, subscriber };
  } catch (error) {
    await broker.close();
    throw error;
  }
}

/**
 * Reads `--broker` and `--mode` into serialisable settings: `{ kind: 'inproc' }`,
 * `{ kind: 'threads' }` (its handle added when the broker exists) or
 * `{ kind, mode, address, env }`.
 */
export function parseBroker(text, mode) {
  if (text === 'inproc' || text === 'in-process' || text === 'threads') {
    if (mode !== undefined) throw new UsageError(`--mode: the ${text} broker has no modes`);
    return { kind: text === 'threads' ? 'threads' : 'inproc' };
  }
  const scheme = /^([a-z]+):\/\//.exec(text)?.[1];
  const broker =
    scheme !== undefined && Object.hasOwn(BROKERS, scheme) ? BROKERS[scheme] : undefined;
  if (broker === undefined) {
    throw new UsageError(
      `--broker ${text}: unknown broker; use inproc, threads, redis://host:port, nats://host:port, kafka://host:port[,host:port…] or zmq://host:port`,
    );
  }
  const chosen = mode ?? broker.defaultMode;
  if (!broker.modes.includes(chosen)) {
    throw new UsageError(
      `--mode ${chosen}: a ${scheme} broker takes --mode ${broker.modes.join(' | ')}`,
    );
  }
  if (scheme === 'zmq' && !/^zmq:\/\/[^\s/:]+:\d+$/.test(text)) {
    throw new UsageError(`--broker ${text}: expected zmq://host:port (the dispatcher binds it)`);
  }
  if (scheme === 'kafka') {
    const servers = text.slice('kafka://'.length).split(',');
    if (servers.some((server) => !/^[^\s,/:]+:\d+$/.test(server)))
      throw new UsageError(`--broker ${text}: expected kafka://host:port[,host:port…]`);
  } else if (!URL.canParse(text)) {
    throw new UsageError(`--broker ${text}: not a URL`);
  }
  return { kind: scheme, mode: chosen, address: text, env: broker.env(text) };
}

/** The descriptor of network broker settings (`undefined` for inproc and threads). */
export async function descriptorOf(settings) {
  if (settings.kind === 'inproc' || settings.kind === 'threads') return undefined;
  return BROKERS[settings.kind].load(settings.mode);
}

/** The broker's short name in the summary: a descriptor's name, `inproc` or `threads`. */
export async function brokerName(settings) {
  return (await descriptorOf(settings))?.name ?? settings.kind;
}

/** `Redis list queue (redis-list) at redis://127.0.0.1:6379`, credentials removed. */
export async function brokerLabel(settings) {
  if (settings.kind === 'inproc') return 'in-process broker (inproc)';
  if (settings.kind === 'threads') return 'worker-threads broker (threads)';
  const descriptor = await descriptorOf(settings);
  const address = settings.kind === 'kafka' ? settings.address : withoutUserInfo(settings.address);
  return `${descriptor.title} (${descriptor.name}) at ${address}`;
}

/**
 * Runs `open` (a connect), bounded: a broker that does not answer within `ms` becomes a
 * {@link BrokerUnavailableError} that says how to start the project's local one.
 */
async function reach(settings, what, open, ms = 15_000) {
  const descriptor = await descriptorOf(settings);
  const hint =
    descriptor.broker === undefined
      ? 'the dispatcher binds the endpoint: start it first, on a free port'
      : `is it running? Start a local one with: bash scripts/brokers.sh start ${descriptor.broker.name}`;
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new BrokerUnavailableError(`${what}: no answer within ${ms / 1000} s; ${hint}`)),
      ms,
    );
    timer.unref();
  });
  try {
    return await Promise.race([open(descriptor), late]);
  } catch (error) {
    if (error instanceof BrokerUnavailableError) throw error;
    throw new BrokerUnavailableError(`${what} failed (${error.message}); ${hint}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A publisher of its own on the network broker of `settings`, or on the worker-threads broker
 * whose handle (or, in its own thread, the broker itself) is `settings.connection`.
 */
export async function openPublisher(settings) {
  if (settings.kind === 'threads') {
    return ThreadsPublisher.create({ connection: settings.connection });
  }
  return reach(settings, `${settings.address}: connecting a publisher`, (descriptor) =>
    descriptor.publisher(settings.env),
  );
}

/**
 * A subscriber of `topic` on the network broker of `settings`, ready (joined, subscribed) when
 * the promise resolves: frames sent from then on reach it, on fan-out brokers too.
 */
export function openSubscriber(settings, topic) {
  return reach(settings, `${settings.address}: subscribing to ${topic}`, async (descriptor) => {
    await descriptor.prepare?.(settings.env);
    return descriptor.subscriber(settings.env, topic);
  });
}

/** Deletes what the run left on the broker for `topic` (a list, a stream, a Kafka topic). */
export async function cleanupTopic(settings, topic) {
  const descriptor = await descriptorOf(settings);
  await descriptor?.cleanup?.(settings.env, topic);
}

// ---------------------------------------------------------------- stores

/** Every `--store`, and whether it works across processes (for `--role`). */
export const STORE_KINDS = ['file', 'memory', 'shared', 'redis', 'nats'];
export const CROSS_PROCESS_STORES = ['file', 'redis', 'nats'];

/**
 * Serialisable settings of the store of a run on `topic`. Every name derives from the topic, so
 * the two processes of a split run agree on them without talking (`<name>` is the topic, with
 * `proxystream-demo-` in front unless it starts so): `file` a directory `<tmp>/<name>`; `redis`
 * the key prefix `<name>:` on the
 * Redis of `--broker` (a redis:// one), else of `REDIS_URL`, else 127.0.0.1:6379; `nats` the
 * object-store bucket `<name>` on the NATS of `--broker`, else `NATS_URL`, else
 * 127.0.0.1:4222. `memory` and `shared` live in this process (`shared` gets its pool's handle
 * from the caller).
 */
export function storeSettings(kind, broker, topic) {
  const name = topic.startsWith('proxystream-demo') ? topic : `proxystream-demo-${topic}`;
  switch (kind) {
    case 'file':
      return { kind, directory: join(tmpdir(), name) };
    case 'memory':
      return { kind, name };
    case 'shared':
      return { kind };
    case 'redis':
      return {
        kind,
        url: broker.kind === 'redis' ? broker.address : process.env.REDIS_URL || DEFAULT_REDIS,
        prefix: `${name}:`,
      };
    case 'nats':
      return {
        kind,
        url: broker.kind === 'nats' ? broker.address : process.env.NATS_URL || DEFAULT_NATS,
        bucket: name,
      };
    default:
      throw new UsageError(`--store: expected ${STORE_KINDS.join(', ')}; got "${kind}"`);
  }
}

/** `host:port` of a redis:// URL, as `RedisStoreFactory.allowedServers` lists it. */
function redisServer(url) {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

/** What a store is, for the banner: `Redis store at redis://…, keys proxystream-demo:…:*`. */
export function storeLabel(settings) {
  switch (settings.kind) {
    case 'file':
      return `file store in ${settings.directory}`;
    case 'memory':
      return `memory store of this thread (${settings.name})`;
    case 'shared':
      return `shared-memory store (${settings.slots} slots × ${settings.slotBytes} bytes)`;
    case 'redis':
      return `Redis store at ${withoutUserInfo(settings.url)}, keys ${settings.prefix}*`;
    case 'nats':
      return `NATS object store at ${withoutUserInfo(settings.url)}, bucket ${settings.bucket}`;
  }
}

/** The producer's store: where its frames' bytes go. */
export async function openStore(settings) {
  switch (settings.kind) {
    case 'file':
      return FileStore.create({ directory: settings.directory });
    case 'memory':
      return MemoryStore.create({ name: settings.name });
    case 'shared':
      return SharedMemoryStore.create({ pool: settings.pool });
    case 'redis': {
      const { RedisStore } = await import('@proxystream/shim-redis');
      return RedisStore.create({ connection: settings.url, prefix: settings.prefix });
    }
    case 'nats': {
      const { NatsObjectStore } = await import('@proxystream/shim-nats');
      return NatsObjectStore.create({
        connection: { servers: settings.url },
        bucket: settings.bucket,
        // A run that was killed leaves nothing for longer than an hour.
        create: { ttlMs: 3_600_000 },
      });
    }
  }
}

/**
 * The factories a consumer (the dispatcher, each worker) reopens the store with from a
 * reference's config, allow-listed to this run's store and nothing else.
 */
export async function storeFactories(settings) {
  switch (settings.kind) {
    case 'file':
      return [new FileStoreFactory({ allowedRoots: [settings.directory] })];
    case 'memory':
      return [new MemoryStoreFactory()];
    case 'shared':
      return [new SharedMemoryStoreFactory({ pools: [settings.pool] })];
    case 'redis': {
      const { RedisStoreFactory } = await import('@proxystream/shim-redis');
      return [
        new RedisStoreFactory({
          allowedServers: [redisServer(settings.url)],
          allowedPrefixes: [settings.prefix],
        }),
      ];
    }
    case 'nats': {
      const { NatsObjectStoreFactory } = await import('@proxystream/shim-nats');
      return [
        new NatsObjectStoreFactory({
          allowedServers: [settings.url],
          allowedBuckets: [settings.bucket],
        }),
      ];
    }
  }
}

/** Makes what the store needs before a producer writes (the file store's directory). */
export async function prepareStore(settings) {
  if (settings.kind === 'file') await mkdir(settings.directory, { recursive: true });
}

/**
 * What the run left in its store, counted with the broker's own client (not through the store,
 * whose API has no listing): `{ count, text }`. `pool` is the shared store's pool.
 */
export async function storeLeftover(settings, pool) {
  switch (settings.kind) {
    case 'file': {
      const count = (await readdir(settings.directory).catch(() => [])).length;
      return { count, text: `${count} file(s) left` };
    }
    case 'memory': {
      const store = await MemoryStore.create({ name: settings.name });
      return { count: store.size, text: `${store.size} object(s) left in memory` };
    }
    case 'shared': {
      const usage = pool.usage();
      const used = usage.stored + usage.writing + usage.releasePending;
      return { count: used, text: `${used} slot(s) in use of ${usage.slots}` };
    }
    case 'redis': {
      const keys = await redisKeys(settings);
      return { count: keys.length, text: `${keys.length} key(s) left under ${settings.prefix}` };
    }
    case 'nats': {
      const count = await withBucket(settings, async (bucket) =>
        bucket === undefined ? 0 : (await bucket.list()).length,
      );
      return { count, text: `${count} object(s) left in bucket ${settings.bucket}` };
    }
  }
}

/** Deletes the store of the run (unless `--keep`): the directory, the keys, the bucket. */
export async function removeStore(settings) {
  switch (settings.kind) {
    case 'file':
      await rm(settings.directory, { recursive: true, force: true });
      return;
    case 'redis': {
      const keys = await redisKeys(settings, true);
      return keys;
    }
    case 'nats':
      await withBucket(settings, (bucket) => bucket?.destroy());
      return;
  }
}

/** Keys under the store's prefix (a raw ioredis client); with `remove`, unlinks them too. */
async function redisKeys(settings, remove = false) {
  const { Redis } = await import('ioredis');
  const client = new Redis(settings.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  client.on('error', () => {});
  try {
    await client.connect();
    const keys = [];
    let cursor = '0';
    do {
      const [next, found] = await client.scan(
        cursor,
        'MATCH',
        `${settings.prefix}*`,
        'COUNT',
        1000,
      );
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (remove && keys.length > 0) await client.unlink(...keys);
    return keys;
  } finally {
    client.disconnect();
  }
}

/** Runs `work` on the run's bucket (a raw NATS connection), or on `undefined` when it is missing. */
async function withBucket(settings, work) {
  const [{ connect }, { Objm }] = await Promise.all([
    import('@nats-io/transport-node'),
    import('@nats-io/obj'),
  ]);
  const nc = await connect({ servers: settings.url });
  try {
    const bucket = await new Objm(nc).open(settings.bucket).catch(() => undefined);
    return await work(bucket);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
