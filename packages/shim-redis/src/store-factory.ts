import {
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { REDIS_STORE_KIND, RedisStore, STORE_MAX_RETRIES_PER_REQUEST } from './store.js';

/** Options of {@link RedisStoreFactory}. */
export interface RedisStoreFactoryOptions {
  /**
   * Servers a config from the wire may point at, as `host` (any port) or `host:port`, compared
   * exactly (no DNS resolution). A config naming any other server is refused with
   * `StoreNotAllowedError`. Required: a consumer opens nothing it was not told it may open.
   */
  allowedHosts: readonly string[];
  /** Databases a config may name. Default: any. */
  allowedDbs?: readonly number[];
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

/**
 * Opens {@link RedisStore}s from configs received over the wire (a `StreamConsumer` does this for
 * each store a batch names), only on servers it was allowed to reach.
 *
 * @example
 * ```ts
 * const consumer = new StreamConsumer(subscriber, {
 *   stores: [new RedisStoreFactory({ allowedHosts: ['127.0.0.1:6379'] })],
 * });
 * ```
 */
export class RedisStoreFactory implements StoreFactory {
  /** {@inheritDoc @proxystream/protocols#StoreFactory.kind} */
  readonly kind = REDIS_STORE_KIND;
  readonly #hosts: ReadonlySet<string>;
  readonly #dbs: ReadonlySet<number> | undefined;
  readonly #redisOptions: RedisOptions;

  constructor(options: RedisStoreFactoryOptions) {
    this.#hosts = new Set(options.allowedHosts.map((host) => host.toLowerCase()));
    this.#dbs = options.allowedDbs === undefined ? undefined : new Set(options.allowedDbs);
    this.#redisOptions = options.redisOptions ?? {};
  }

  /**
   * Opens the store `config` describes, on a connection of its own (closed by the store's `close`).
   * @throws {@link StoreNotAllowedError} for another kind, a malformed config, or a server or db not allowed.
   */
  async open(config: StoreConfig): Promise<Store> {
    if (config.kind !== REDIS_STORE_KIND)
      fail(config, `kind "${String(config.kind)}" is not "redis"`);
    const { host, port, db, prefix, ttlSeconds, cluster, username, password } = config;
    if (typeof host !== 'string' || host.length === 0) fail(config, 'host missing');
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535)
      fail(config, 'bad port');
    if (!Number.isInteger(db) || (db as number) < 0) fail(config, 'bad db');
    if (typeof prefix !== 'string') fail(config, 'prefix missing');
    if (ttlSeconds !== undefined && !Number.isSafeInteger(ttlSeconds))
      fail(config, 'bad ttlSeconds');
    const address = `${host.toLowerCase()}:${port}`;
    if (!this.#hosts.has(host.toLowerCase()) && !this.#hosts.has(address)) {
      fail(config, `server ${address} is not among the allowed hosts`);
    }
    if (this.#dbs !== undefined && !this.#dbs.has(db as number))
      fail(config, `db ${db} is not allowed`);
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
        ? new Cluster([{ host, port: port as number }], { redisOptions })
        : new Redis(redisOptions);
    client.on('error', () => {});
    const store: Store = new RedisStore({
      connection: client,
      prefix,
      name: String(config.name),
      closeClient: true,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds: ttlSeconds as number }),
    });
    return store;
  }
}
