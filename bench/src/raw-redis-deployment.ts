import { Cluster, Redis } from 'ioredis';

/** A raw ioredis client: one server's, or a Redis Cluster's (same commands). */
export type RawRedisClient = Redis | Cluster;

/**
 * Where the raw Redis contenders of raw-redis.ts run, as a user of ioredis would reach it: a
 * single server, or a Redis Cluster through ioredis `Cluster`. The list and Streams contenders
 * use the same keys on both (the queue key and `{key}:pending` share a hash slot, as the list
 * shim's keys do); pub/sub is plain on a server and sharded on a cluster, as the pub/sub shim is.
 */
export interface RawRedisDeployment {
  /** The client in contender names: `'ioredis'` or `'ioredis Cluster'`. */
  readonly client: string;
  /** The pub/sub commands in contender names. */
  readonly pubSub: string;
  /** A new client (it connects in the background; ioredis queues commands until it is up). */
  connect(): RawRedisClient;
  /** Publishes `message` to `channel` (`PUBLISH`, or `SPUBLISH` on a cluster). */
  publish(client: RawRedisClient, channel: string, message: Buffer): Promise<unknown>;
  /** A new client subscribed to `channel` (`SUBSCRIBE` / `SSUBSCRIBE`), calling `onMessage`. */
  subscribe(channel: string, onMessage: (message: Buffer) => void): Promise<RawRedisClient>;
}

/** The single Redis server at `url`. */
export function redisServer(url: string): RawRedisDeployment {
  return {
    client: 'ioredis',
    pubSub: 'pub/sub',
    connect: () => new Redis(url),
    publish: (client, channel, message) => client.publish(channel, message),
    async subscribe(channel, onMessage) {
      const subscriber = new Redis(url);
      subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => onMessage(message));
      await subscriber.subscribe(channel);
      return subscriber;
    },
  };
}

/**
 * The Redis Cluster of `addresses` (comma-separated `redis://host:port` or `host:port`, as in
 * `REDIS_CLUSTER_URLS`): each client an ioredis `Cluster` given every node. Pub/sub is sharded
 * (`SPUBLISH` to the master of the channel's slot; the subscriber's `Cluster` has
 * `shardedSubscribers` and `SSUBSCRIBE`s there), which keeps a channel's order as the shim does.
 */
export function redisCluster(addresses: string): RawRedisDeployment {
  const nodes = addresses
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
  return {
    client: 'ioredis Cluster',
    pubSub: 'sharded pub/sub',
    connect: () => new Cluster(nodes),
    publish: (client, channel, message) => client.spublish(channel, message),
    async subscribe(channel, onMessage) {
      const subscriber = new Cluster(nodes, { shardedSubscribers: true });
      subscriber.on('smessageBuffer', (_channel: Buffer, message: Buffer) => onMessage(message));
      await subscriber.ssubscribe(channel);
      return subscriber;
    },
  };
}
