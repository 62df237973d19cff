import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closeAfterEach } from '@proxystream/contract-tests';
import { clusterNodesOf } from '@proxystream/shim-redis/testing';
import { describe, expect, it } from 'vitest';
import { keySlot } from '../../src/cluster-slots.js';
import { RedisStore, RedisStoreFactory } from '../../src/index.js';
import { env, requireCluster, testCluster } from './cluster-env.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const clusters = (...args: string[]) =>
  promisify(execFile)('bash', ['scripts/clusters.sh', ...args], { cwd: root, timeout: 180_000 });

requireCluster();
const { track } = closeAfterEach();
const prefix = `test-cluster-store-${process.pid}:`;
const servers = clusterNodesOf(env).map(({ host, port }) => `${host}:${port}`);

describe('the Redis store on a Redis Cluster', () => {
  it('puts a batch whose keys fall in many slots, and gets every object back', async () => {
    const store = track(
      await RedisStore.create({ connection: testCluster(), closeClient: true, prefix }),
    );
    const data = Array.from({ length: 400 }, (_, i) => Buffer.from(`object ${i}`));
    const keys = await store.putBatch(data);
    expect(new Set(keys.map((key) => keySlot(prefix + key))).size).toBeGreaterThan(100);
    const back = await Promise.all(keys.map((key) => store.get(key)));
    expect(back.map((value) => Buffer.from(value!).toString())).toEqual(data.map(String));
  });

  it('lists every node of the cluster in its config, and a factory reopens it as a cluster', async () => {
    const cluster = testCluster();
    const store = track(
      await RedisStore.create({ connection: cluster, closeClient: true, prefix }),
    );
    const key = await store.put(Buffer.from('listed'));
    await cluster.cluster('INFO');
    const config = store.config();
    expect(config.cluster).toBe(true);
    expect(config.nodes).toEqual(expect.arrayContaining(servers));
    const factory = new RedisStoreFactory({
      allowedServers: servers,
      allowedPrefixes: [prefix],
      allowCluster: true,
    });
    const reopened = track(await factory.open(config));
    expect(Buffer.from((await reopened.get(key))!).toString()).toBe('listed');
  });

  it('a consumer that starts after the first node listed died still resolves', async () => {
    const cluster = testCluster();
    const store = track(
      await RedisStore.create({ connection: cluster, closeClient: true, prefix }),
    );
    const key = await store.put(Buffer.from('survives'));
    await cluster.cluster('INFO');
    const config = store.config();
    const first = String(config.port);
    await clusters('kill', 'redis', first);
    try {
      await clusters('wait', 'redis');
      const factory = new RedisStoreFactory({
        allowedServers: servers,
        allowedPrefixes: [prefix],
        allowCluster: true,
      });
      const reopened = track(await factory.open(config));
      expect(Buffer.from((await reopened.get(key))!).toString()).toBe('survives');
      // And the producer's store keeps working through the failover.
      expect(await store.exists(await store.put(Buffer.from('after')))).toBe(true);
    } finally {
      await clusters('restart', 'redis', first);
    }
  });

  it('refuses a cluster config that lists a node not allowed', async () => {
    const factory = new RedisStoreFactory({
      allowedServers: servers,
      allowedPrefixes: [prefix],
      allowCluster: true,
    });
    await expect(
      factory.open({
        kind: 'redis',
        name: 'x',
        host: '127.0.0.1',
        port: 7000,
        db: 0,
        prefix,
        cluster: true,
        nodes: ['127.0.0.1:7000', '10.0.0.1:7000'],
      }),
    ).rejects.toMatchObject({ code: 'STORE_NOT_ALLOWED' });
  });
});
