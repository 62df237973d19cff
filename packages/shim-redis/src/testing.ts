/**
 * The Redis shims as the project's tooling sees them: one {@link ShimDescriptor} per shim (pub/sub,
 * list queue, Streams) on a single server ({@link descriptors}) and on a Redis Cluster
 * ({@link clusterDescriptors}, with the failover cases' node chooser), the Redis store as a
 * {@link DescriptorStore}, and the list shim's own read script for the bench's raw contender. The contract suite, the bench and the soak runner iterate
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
import type { DescriptorStore, ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import { type BrokerRequirement, brokerAddress } from '@proxystream/protocols/kit';
import { Redis } from 'ioredis';
import { clusterDeployment } from './cluster-deployment.js';
import type { RedisClient } from './connection.js';
import { DEFAULT_REDIS_URL } from './connection.js';
import { type RedisDeployment, redisDescriptorsOn } from './descriptor-builders.js';
import { TAKE_SCRIPT } from './queue-subscriber.js';

export {
  clusterNodesOf,
  DEFAULT_REDIS_CLUSTER_URLS,
  redisClusterBroker,
} from './cluster-deployment.js';

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

const connection = (env: ShimEnvironment): string => brokerAddress(redisBroker, env);

/** Runs `work` on a short-lived raw ioredis client of `env`'s server, then disconnects it. */
async function withRawClient<T>(
  env: ShimEnvironment,
  work: (client: RedisClient) => Promise<T>,
): Promise<T> {
  const client = new Redis(connection(env), { lazyConnect: true, maxRetriesPerRequest: 3 });
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

/** The single server of `REDIS_URL`: each shim gets the URL and opens its own connection. */
const singleServer: RedisDeployment = Object.freeze({
  nameSuffix: '',
  titleSuffix: '',
  broker: redisBroker,
  cluster: false,
  connect: (env: ShimEnvironment) => ({ connection: connection(env) }),
  withRawClient,
  publishRaw: (client: RedisClient, topic: string, bytes: Buffer) => client.publish(topic, bytes),
  deleteTopic,
  servers(env: ShimEnvironment): string[] {
    const url = new URL(connection(env));
    return [`${url.hostname}:${url.port || '6379'}`];
  },
});

const single = redisDescriptorsOn(singleServer);
const cluster = redisDescriptorsOn(clusterDeployment);

/**
 * The Redis store on the descriptors' server: each `create` makes a store under a fresh prefix
 * below `proxystream-descriptor:`; the factory allows that server and prefix only.
 */
export const redisStoreDescriptor: DescriptorStore = single.store;

/** Redis pub/sub (`PUBLISH` / `SUBSCRIBE`): fan-out, nothing kept, losses reported by `next()`. */
export const redisPubSubDescriptor: ShimDescriptor = single.pubSub;

/** The Redis list queue (`RPUSH` / `BLMOVE`): competing consumers, acknowledged, persistent. */
export const redisListDescriptor: ShimDescriptor = single.list;

/** Redis Streams with consumer groups (`XADD` / `XREADGROUP`): fan-out and groups, acknowledged. */
export const redisStreamsDescriptor: ShimDescriptor = single.streams;

/** The three Redis shims, in the order the bench and the soak runner report them. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([
  redisPubSubDescriptor,
  redisListDescriptor,
  redisStreamsDescriptor,
]);

/**
 * The Redis store on the Redis Cluster of `REDIS_CLUSTER_URLS`: its config lists every node, and
 * the factory allows those nodes and opens the config as a cluster.
 */
export const redisClusterStoreDescriptor: DescriptorStore = cluster.store;

/**
 * The three Redis shims on the Redis Cluster of `REDIS_CLUSTER_URLS` (default: the local one of
 * `bash scripts/clusters.sh start redis`, ports 7000–7005), each shim given an ioredis `Cluster`:
 * `redis-pubsub-cluster` (sharded pub/sub), `redis-list-cluster`, `redis-streams-cluster`. Their
 * `failover` kills the master of the topic's slot (role `'holder'`).
 */
export const clusterDescriptors: readonly ShimDescriptor[] = Object.freeze([
  cluster.pubSub,
  cluster.list,
  cluster.streams,
]);
