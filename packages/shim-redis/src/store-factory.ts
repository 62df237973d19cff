import {
  InvalidArgumentError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { positiveNumber } from '@proxystream/protocols/kit';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import {
  DEFAULT_REDIS_STORE_PREFIX,
  OPERATION_TIMEOUT_MS,
  REDIS_STORE_KIND,
  RedisStore,
  STORE_MAX_RETRIES_PER_REQUEST,
} from './store.js';

/** Options of {@link RedisStoreFactory}. */
export interface RedisStoreFactoryOptions {
  /**
   * Servers a config from the wire may point at, compared exactly (lowercase, no DNS resolution):
   *
   * - `'host:port'` (`'[::1]:6379'` for an IPv6 address) allows that one port of the host;
   * - a bare `'host'` allows **every port** of the host: any Redis (or other service) listening
   *   there. Prefer `host:port` unless all of them are yours.
   *
   * A config naming any other server is refused with `StoreNotAllowedError` before a connection
   * is made. Required: a consumer opens nothing it was not told it may open.
   */
  allowedServers: readonly string[];
  /**
   * Key prefixes a config may name: a config's `prefix` must start with one of them (so
   * `'frames:'` also allows `'frames:camera-1:'`), or the config is refused with
   * `StoreNotAllowedError` before a connection is made. A consumer reads, and with one-shot
   * references deletes, only keys under these prefixes. Default `['proxystream:']`, the
   * `RedisStore` default prefix; list your stores' prefixes when they set their own. `''` allows
   * every key of the database.
   */
  allowedPrefixes?: readonly string[];
  /**
   * Databases a config may name. Default: only the factory's own, `redisOptions.db` (0 when not
   * set), so that a config cannot send the consumer to another database of an allowed server.
   */
  allowedDbs?: readonly number[];
  /**
   * Open a config with `cluster: true` as a Redis Cluster. Default `false`: such a config is
   * refused with `StoreNotAllowedError`, because a cluster client aimed at a server that is not a
   * cluster waits for a cluster that never comes; whether the consumer talks to a cluster is its
   * own decision, not the message's. When allowed, operations are still bounded by
   * {@link operationTimeoutMs}.
   */
  allowCluster?: boolean;
  /**
   * Longest wait for one operation of the stores the factory opens, in ms; past it the operation
   * fails with `StoreError` (see `RedisStoreOptions.operationTimeoutMs`). Default 10 000, and
   * 30 000 for a cluster (a failover is retried within it); `Infinity` waits for ever.
   */
  operationTimeoutMs?: number;
  /**
   * Settings of the connections the factory opens, e.g. `password`, `username`, `tls`,
   * `maxRetriesPerRequest` (default {@link STORE_MAX_RETRIES_PER_REQUEST}): the
   * receiving side's own credentials. Host, port and db come from the config; credentials in a
   * config (when its store was told to include them) are used only when these give none.
   */
  redisOptions?: RedisOptions;
}

function fail(config: StoreConfig, reason: string): never {
  throw new StoreNotAllowedError(`Redis store config "${String(config.name)}" refused: ${reason}`);
}

/** A cluster config's `nodes`: `'host:port'` strings (`'[::1]:7000'` for IPv6). */
function parseNodes(config: StoreConfig, nodes: unknown): Array<{ host: string; port: number }> {
  if (!Array.isArray(nodes) || nodes.length > 1000) fail(config, 'bad nodes');
  return nodes.map((node: unknown) => {
    const match = typeof node === 'string' ? /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(node) : null;
    const port = Number(match?.[2]);
    if (match === null || !(port >= 1 && port <= 65_535)) fail(config, 'bad nodes');
    return { host: match[1]!, port };
  });
}

/**
 * Opens {@link RedisStore}s from configs received over the wire (a `StreamConsumer` does this for
 * each store a batch names), only on servers, databases and key prefixes it was allowed, and in
 * cluster mode only when allowed. Every check runs before a connection is made. A cluster config
 * lists its nodes (`nodes`): every one must be allowed, and the cluster client starts from all of
 * them, so that a store whose first node died still opens.
 *
 * The constructor is synchronous and public: a factory opens nothing until {@link open}, and each
 * store it opens is closed by its own `close()`, so the factory itself has nothing to close.
 *
 * @example
 * ```ts
 * const consumer = new StreamConsumer(subscriber, {
 *   stores: [new RedisStoreFactory({ allowedServers: ['127.0.0.1:6379'], allowedPrefixes: ['frames:'] })],
 * });
 * ```
 */
export class RedisStoreFactory implements StoreFactory {
  /** {@inheritDoc @proxystream/protocols#StoreFactory.kind} */
  readonly kind = REDIS_STORE_KIND;
  readonly #hosts: ReadonlySet<string>;
  readonly #prefixes: readonly string[];
  readonly #dbs: ReadonlySet<number>;
  readonly #allowCluster: boolean;
  readonly #operationTimeoutMs: number | undefined;
  readonly #redisOptions: RedisOptions;

  /** @throws {@link InvalidArgumentError} for an option of the wrong type. */
  constructor(options: RedisStoreFactoryOptions) {
    if (!Array.isArray(options?.allowedServers)) {
      throw new InvalidArgumentError(
        'RedisStoreFactory needs allowedServers (renamed from allowedHosts)',
      );
    }
    const prefixes = options.allowedPrefixes ?? [DEFAULT_REDIS_STORE_PREFIX];
    if (!Array.isArray(prefixes) || !prefixes.every((prefix) => typeof prefix === 'string')) {
      throw new InvalidArgumentError('allowedPrefixes must be a list of strings');
    }
    this.#hosts = new Set(options.allowedServers.map((host) => host.toLowerCase()));
    this.#prefixes = [...prefixes];
    this.#redisOptions = options.redisOptions ?? {};
    this.#dbs = new Set(options.allowedDbs ?? [this.#redisOptions.db ?? 0]);
    this.#allowCluster = options.allowCluster ?? false;
    // Unset: the store's own default (longer on a cluster, where it spans a failover).
    this.#operationTimeoutMs =
      options.operationTimeoutMs === undefined
        ? undefined
        : positiveNumber(options.operationTimeoutMs, 'operationTimeoutMs', OPERATION_TIMEOUT_MS);
  }

  /**
   * Opens the store `config` describes, on a connection of its own (closed by the store's `close`).
   * @throws {@link StoreNotAllowedError} for another kind, a malformed config, a server, db or
   * prefix not allowed, or `cluster: true` without `allowCluster`; nothing is connected then.
   */
  async open(config: StoreConfig): Promise<Store> {
    if (config.kind !== REDIS_STORE_KIND)
      fail(config, `kind "${String(config.kind)}" is not "redis"`);
    // `ttlMs` only shapes a reopened store's own puts; a config of an older producer with
    // `ttlSeconds` instead opens the same store, without it.
    const { host, port, db, prefix, ttlMs, cluster, username, password } = config;
    if (typeof host !== 'string' || host.length === 0) fail(config, 'host missing');
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535)
      fail(config, 'bad port');
    if (!Number.isInteger(db) || (db as number) < 0) fail(config, 'bad db');
    if (typeof prefix !== 'string') fail(config, 'prefix missing');
    if (ttlMs !== undefined && !(Number.isSafeInteger(ttlMs) && (ttlMs as number) > 0))
      fail(config, 'bad ttlMs');
    if (cluster !== undefined && typeof cluster !== 'boolean') fail(config, 'bad cluster');
    const servers = [{ host, port: port as number }];
    if (config.nodes !== undefined) {
      if (cluster !== true) fail(config, 'nodes are listed without cluster: true');
      servers.push(...parseNodes(config, config.nodes));
    }
    for (const server of servers) {
      const name = server.host.toLowerCase();
      const address = name.includes(':') ? `[${name}]:${server.port}` : `${name}:${server.port}`;
      if (!this.#hosts.has(name) && !this.#hosts.has(address)) {
        fail(config, `server ${address} is not among the allowed servers (allowedServers)`);
      }
    }
    if (!this.#dbs.has(db as number))
      fail(config, `db ${db} is not allowed (allowedDbs: ${[...this.#dbs].join(', ')})`);
    if (!this.#prefixes.some((allowed) => prefix.startsWith(allowed))) {
      fail(
        config,
        `prefix ${JSON.stringify(prefix)} is not under an allowed prefix (allowedPrefixes: ${JSON.stringify(this.#prefixes)})`,
      );
    }
    if (cluster === true && !this.#allowCluster) {
      fail(config, 'it asks for cluster mode, which this factory does not allow (allowCluster)');
    }
    const redisOptions: RedisOptions = {
      maxRetriesPerRequest: STORE_MAX_RETRIES_PER_REQUEST,
      ...this.#redisOptions,
      host,
      port: port as number,
      db: db as number,
    };
    if (redisOptions.password === undefined && typeof password === 'string') {
      redisOptions.password = password;
      if (typeof username === 'string') redisOptions.username = username;
    }
    const client =
      cluster === true
        ? // Every node the store listed: the consumer connects through whichever still answers.
          new Cluster(servers, { redisOptions })
        : new Redis(redisOptions);
    client.on('error', () => {});
    const store: Store = await RedisStore.create({
      connection: client,
      prefix,
      name: String(config.name),
      closeClient: true,
      ...(ttlMs === undefined ? {} : { ttlMs: ttlMs as number }),
      ...(this.#operationTimeoutMs === undefined
        ? {}
        : { operationTimeoutMs: this.#operationTimeoutMs }),
    });
    return store;
  }
}
