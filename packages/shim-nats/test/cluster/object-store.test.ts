import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { localClusterNodes } from '@proxystream/contract-tests';
import { NatsObjectStore, NatsObjectStoreFactory } from '@proxystream/shim-nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterServers, env, requireCluster } from './cluster-env.js';

// The object store on the NATS cluster: buckets replicated on 3 servers, gets that survive a
// missing peer, and a config that lets a consumer reopen the bucket through any server.
requireCluster();

const bucketName = () => `ps-cluster-${randomBytes(4).toString('hex')}`;
const portOf = (server: string) => /:(\d+)\/?$/.exec(server)![1]!;
const settings = () => ({ servers: clusterServers(), noRandomize: true });

let admin: NatsConnection;
const buckets: string[] = [];
let killed: string | undefined;

beforeAll(async () => {
  admin = await connect({ servers: clusterServers() });
});
afterEach(async () => {
  if (killed !== undefined) await localClusterNodes.restart('nats', killed, env);
  killed = undefined;
});
afterAll(async () => {
  const jsm = await jetstreamManager(admin);
  for (const bucket of buckets) await jsm.streams.delete(`OBJ_${bucket}`).catch(() => undefined);
  await admin.close();
});

async function openStore(connection: NatsConnection | ReturnType<typeof settings> = settings()) {
  const bucket = bucketName();
  buckets.push(bucket);
  return NatsObjectStore.create({ connection, bucket, create: { ttlMs: 15 * 60_000 } });
}

/** The client port of the server named `name`. */
async function portOfServer(name: string): Promise<string> {
  for (const server of clusterServers()) {
    const nc = await connect({ servers: server, reconnect: false });
    const serverName = nc.info?.server_name;
    await nc.close();
    if (serverName === name) return portOf(server);
  }
  throw new Error(`no server named ${name}`);
}

async function kill(port: string): Promise<void> {
  killed = port;
  await localClusterNodes.kill('nats', port, env);
  await localClusterNodes.wait('nats', env);
}

describe('the NATS object store on a cluster', () => {
  it('creates its bucket with 3 replicas by default', async () => {
    await using store = await openStore();
    const info = await (await jetstreamManager(admin)).streams.info(`OBJ_${store.bucket}`);
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);
  });

  it('creates a bucket with the replicas and placement asked for', async () => {
    const bucket = bucketName();
    buckets.push(bucket);
    await using store = await NatsObjectStore.create({
      connection: settings(),
      bucket,
      create: { replicas: 2, placement: { cluster: 'proxystream' } },
    });
    const info = await (await jetstreamManager(admin)).streams.info(`OBJ_${store.bucket}`);
    expect(info.config.num_replicas).toBe(2);
    expect(info.config.placement?.cluster).toBe('proxystream');
  });

  it('lists every server of the connection in its config, for settings and for a given connection', async () => {
    const servers = clusterServers();
    await using fromSettings = await openStore();
    expect(fromSettings.config().servers).toEqual(servers);
    const nc = await connect(settings());
    try {
      await using fromConnection = await openStore(nc);
      expect([...(fromConnection.config().servers as string[])].sort()).toEqual(
        [...servers].sort(),
      );
    } finally {
      await nc.close();
    }
  });

  it('gets every object while one peer of the bucket is down, the stream leader', async () => {
    await using store = await openStore();
    const objects = Array.from({ length: 20 }, () => randomBytes(300 * 1024)); // 3 chunks each
    const keys = await store.putBatch(objects);
    const info = await (await jetstreamManager(admin)).streams.info(`OBJ_${store.bucket}`);
    let victim = await portOfServer(info.cluster!.leader!);
    // The store's own connection stays up: the server killed is a peer, not the connected one.
    if (victim === portOf(clusterServers()[0]!)) victim = portOf(clusterServers()[1]!);
    await kill(victim);
    const started = Date.now();
    for (const [index, key] of keys.entries()) {
      expect(Buffer.from((await store.get(key))!).equals(objects[index]!)).toBe(true);
    }
    expect(Date.now() - started, 'ms for 20 gets with a peer down').toBeLessThan(30_000);
    // A put goes on too: the bucket keeps a quorum.
    const key = await store.put(objects[0]!);
    expect(await store.exists(key)).toBe(true);
  });

  it('resolves through its config after the server the producer was connected to died', async () => {
    await using store = await openStore();
    const object = randomBytes(200 * 1024);
    const key = await store.put(object);
    const config = store.config();
    await kill(portOf(clusterServers()[0]!));
    const factory = new NatsObjectStoreFactory({ allowedServers: clusterServers() });
    const reopened = await factory.open(config);
    try {
      expect(Buffer.from((await reopened.get(key))!).equals(object)).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});
