import type { BrokerRequirement, ShimEnvironment } from '@proxystream/protocols/kit';
import { brokerAddress } from '@proxystream/protocols/kit';
import { Cluster } from 'ioredis';
import { slotMaster } from './cluster-slots.js';
import type { RedisClient } from './connection.js';
import type { RedisDeployment } from './descriptor-builders.js';

/** The local Redis Cluster of `scripts/clusters.sh start redis`: 3 masters and 3 replicas. */
export const DEFAULT_REDIS_CLUSTER_URLS =
  'redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002,' +
  'redis://127.0.0.1:7003,redis://127.0.0.1:7004,redis://127.0.0.1:7005';

/** The Redis Cluster the cluster descriptors use: `REDIS_CLUSTER_URLS`, comma-separated. */
export const redisClusterBroker: BrokerRequirement = Object.freeze({
  name: 'redis',
  variable: 'REDIS_CLUSTER_URLS',
  defaultAddress: DEFAULT_REDIS_CLUSTER_URLS,
});

/** `{ host, port }` of every node in `env`'s `REDIS_CLUSTER_URLS` (or the local default). */
export function clusterNodesOf(env: ShimEnvironment): Array<{ host: string; port: number }> {
  return brokerAddress(redisClusterBroker, env)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const url = new URL(entry.includes('://') ? entry : `redis://${entry}`);
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
}

/** A cluster client of `env`'s nodes, as a user would make one, errors silenced. */
export function clusterClient(env: ShimEnvironment): Cluster {
  const first = brokerAddress(redisClusterBroker, env).split(',')[0] ?? '';
  const url = new URL(first.includes('://') ? first : `redis://${first}`);
  const cluster = new Cluster(clusterNodesOf(env), {
    redisOptions: {
      ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    },
  });
  cluster.on('error', () => {});
  return cluster;
}

async function withCluster<T>(
  env: ShimEnvironment,
  work: (client: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = clusterClient(env);
  try {
    return await work(cluster);
  } finally {
    cluster.disconnect();
  }
}

/**
 * Deletes the key `topic` and every key of its hash slot `{topic}…` (the list shim's pending
 * lists, their registry, liveness keys and acknowledgement marks): all on the slot's master.
 */
async function deleteClusterTopic(env: ShimEnvironment, topic: string): Promise<void> {
  await withCluster(env, async (cluster) => {
    const { host, port } = await slotMaster(cluster, topic);
    const node = cluster
      .nodes('master')
      .find(
        (candidate) => candidate.options.host === host && Number(candidate.options.port) === port,
      );
    if (node === undefined) throw new Error(`the cluster client does not know ${host}:${port}`);
    const keys = [topic];
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `{${topic}}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    // One slot: a single multi-key command is allowed.
    await cluster.unlink(...keys);
  });
}

/**
 * The descriptors' Redis Cluster: each shim gets a `Cluster` client of its own (closed after the
 * shim), raw commands go through another, and the failover cases kill the master of the topic's
 * slot (`'holder'`).
 */
export const clusterDeployment: RedisDeployment = Object.freeze({
  nameSuffix: '-cluster',
  titleSuffix: ' on a Redis Cluster',
  broker: redisClusterBroker,
  cluster: true,
  connect(env: ShimEnvironment) {
    const cluster = clusterClient(env);
    return { connection: cluster, release: () => cluster.disconnect() };
  },
  withRawClient: <T>(env: ShimEnvironment, work: (client: RedisClient) => Promise<T>) =>
    withCluster(env, work),
  publishRaw: (client: RedisClient, topic: string, bytes: Buffer) => client.spublish(topic, bytes),
  deleteTopic: deleteClusterTopic,
  servers: (env: ShimEnvironment) => clusterNodesOf(env).map(({ host, port }) => `${host}:${port}`),
  failover: Object.freeze({
    cluster: 'redis',
    roles: Object.freeze(['holder']),
    async node(env: ShimEnvironment, topic: string, role: string): Promise<string> {
      if (role !== 'holder') throw new Error(`unknown failover role "${role}" (known: holder)`);
      return withCluster(env, async (cluster) => String((await slotMaster(cluster, topic)).port));
    },
  }),
});
