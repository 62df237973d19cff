import { clusterDescriptors } from '@proxystream/shim-redis/testing';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { clusterClient } from '../../src/cluster-deployment.js';

/** Where the cluster tests run: `REDIS_CLUSTER_URLS`, else the local cluster on 7000–7005. */
export const env = process.env;

/**
 * Fails the file (never skips it) unless the Redis Cluster answers `cluster_state:ok`: start it
 * with `bash scripts/clusters.sh start redis`, or point `REDIS_CLUSTER_URLS` at one.
 */
export function requireCluster(): void {
  beforeAll(async () => {
    const cluster = clusterClient(env);
    try {
      const info = String(await withDeadline(cluster.cluster('INFO'), 10_000));
      if (!info.includes('cluster_state:ok')) throw new Error(info.split('\n')[0]);
    } catch (error) {
      throw new Error(
        `the Redis Cluster at ${clusterDescriptors[0]!.broker!.variable}=${env.REDIS_CLUSTER_URLS ?? '(local 7000–7005)'} does not serve: start it with \`bash scripts/clusters.sh start redis\``,
        { cause: error },
      );
    } finally {
      cluster.disconnect();
    }
  }, 20_000);
  afterAll(() => {
    for (const cluster of opened.splice(0)) cluster.disconnect();
  });
}

const opened: Cluster[] = [];

/** A `Cluster` client of the test cluster, disconnected after the file (a shim never closes a client it was given). */
export function testCluster(): Cluster {
  const cluster = clusterClient(env);
  opened.push(cluster);
  return cluster;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
