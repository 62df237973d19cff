import { randomUUID } from 'node:crypto';
import {
  ClosedError,
  InvalidStoreKeyError,
  type JsonValue,
  type Store,
  type StoreConfig,
  StoreError,
} from '@proxystream/protocols';
import {
  bufferView,
  positiveInteger,
  positiveNumber,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import type { Cluster, RedisOptions } from 'ioredis';
import {
  addressOf,
  type ClientHandle,
  isCluster,
  type RedisConnection,
  releaseClient,
  sharedClient,
  startupNodes,
  withoutCredentials,
} from './connection.js';
import { DEFAULT_FAILOVER_BUDGET_MS, retryAcrossFailover } from './failover.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Where to connect, or a client to use (never closed by the store). Default `redis://127.0.0.1:6379`.
   * A connection the store opens itself defaults to `maxRetriesPerRequest:`
   * {@link STORE_MAX_RETRIES_PER_REQUEST}, so that with the server gone an operation (and so a
   * reference's `resolve()`) fails with `StoreError` after a few seconds instead of waiting out
   * ioredis's 20 reconnection attempts (over a minute); set it in the options to change that.
   */
  connection?: RedisConnection;
  /** Close the client given as `connection` when the store closes. Default `false`. */
  closeClient?: boolean;
  /** Prefix of every Redis key the store writes. Default `'proxystream:'`. */
  prefix?: string;
  /** Name that tells this store apart from other Redis stores. Default `redis://host:port/db/prefix`. */
  name?: string;
  /** Expire stored values after this many milliseconds (`SET … PX`), a positive integer. Default: never. */
  ttlMs?: number;
  /**
   * Put the connection's password (and username) in {@link RedisStore.config}, so that whoever
   * receives the config can open the store without credentials of their own. Default `false`:
   * the receiving side supplies them through `RedisStoreFactory`.
   */
  includeCredentialsInConfig?: boolean;
  /**
   * Longest wait, in ms, for one operation (`put`, `putBatch`, `get`, `exists`, `evict`) before
   * it fails with `StoreError`. It bounds what reconnection limits cannot: a server that accepts
   * the connection and never answers (frozen), or a cluster client that never becomes ready.
   * Default 10 000 on a single server, `retryForMs` on a Redis Cluster; raise it for very
   * large objects on a slow link; `Infinity` waits for ever.
   */
  operationTimeoutMs?: number;
  /**
   * On a Redis Cluster: how long, in ms, an operation that failed because the cluster is failing
   * over (`MOVED`, `ASK`, `CLUSTERDOWN`, `TRYAGAIN`, a dead node) is tried again before it fails
   * with `StoreError`; never longer than `operationTimeoutMs`. Default 30 000. Ignored on a
   * single server.
   */
  retryForMs?: number;
  /**
   * An already aborted signal makes `create` reject with `AbortedError` and open nothing. It
   * bounds the creation only; use `close()` to end the store.
   */
  signal?: AbortSignal;
}

/** Store kind of {@link RedisStore}. */
export const REDIS_STORE_KIND = 'redis';

/**
 * Reconnection attempts a command of a store-owned connection waits through before it fails
 * (about 3–5 s with ioredis's backoff): long enough for a quick server restart, short enough that
 * a dead server is reported rather than waited for.
 */
export const STORE_MAX_RETRIES_PER_REQUEST = 6;

/** Default of {@link RedisStoreOptions.operationTimeoutMs}. */
export const OPERATION_TIMEOUT_MS = 10_000;

/** The store's default {@link RedisStoreOptions.prefix}, and so the prefix a `RedisStoreFactory` allows by default. */
export const DEFAULT_REDIS_STORE_PREFIX = 'proxystream:';

// Keys the store makes are UUIDs: anything else did not come from a store and is refused.
const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Keeps objects' bytes in Redis strings (`SET`/`GET`/`DEL`/`EXISTS`) under a key prefix, with an
 * optional time to live; `putBatch` is pipelined. Its {@link config} names host, port, db and
 * prefix, so that a `RedisStoreFactory` in another process reopens the same store. On a Redis
 * Cluster (a `Cluster` as `connection`) each key goes to its own slot's master (`putBatch` sends
 * one command per key, so a batch never meets a cross-slot error), the config lists every node
 * the client knows (`nodes`, so that a consumer starting after one of them died still connects),
 * and operations are retried across a failover for `retryForMs`. Every
 * operation ends: with its result, a `StoreError` (server gone, or no answer within
 * `operationTimeoutMs`), or a `ClosedError` when the store is closed while it waits.
 *
 * @example
 * ```ts
 * await using store = await RedisStore.create({ connection: 'redis://127.0.0.1:6379', prefix: 'frames:', ttlMs: 3_600_000 });
 * const producer = new StreamProducer(publisher, { stores: { frames: store } });
 * ```
 */
export class RedisStore implements Store, AsyncDisposable {
  /** {@inheritDoc @proxystream/protocols#Store.kind} */
  readonly kind = REDIS_STORE_KIND;
  readonly #handle: ClientHandle;
  readonly #prefix: string;
  readonly #ttl: readonly (string | number)[];
  #config: StoreConfig;
  readonly #timeoutMs: number;
  /** Retry budget across a failover, in ms; `undefined` on a single server (no retries). */
  readonly #retryForMs: number | undefined;
  /** On a cluster: the `nodes` of the last config built, to rebuild it when the client learns more. */
  #configNodes = '';
  /** Rejecters of the operations waiting for the server, ended by {@link close}. */
  readonly #pending = new Set<(error: Error) => void>();
  #closed = false;

  private constructor(options: RedisStoreOptions) {
    this.#prefix = options.prefix ?? DEFAULT_REDIS_STORE_PREFIX;
    const ttl =
      options.ttlMs === undefined ? undefined : positiveInteger(options.ttlMs, 'ttlMs', 1);
    const retryForMs = positiveNumber(options.retryForMs, 'retryForMs', DEFAULT_FAILOVER_BUDGET_MS);
    this.#ttl = ttl === undefined ? [] : ['PX', ttl];
    const shared = sharedClient(options.connection, {
      maxRetriesPerRequest: STORE_MAX_RETRIES_PER_REQUEST,
    });
    this.#handle = options.closeClient ? { client: shared.client, owned: true } : shared;
    const cluster = isCluster(this.#handle.client);
    this.#retryForMs = cluster ? retryForMs : undefined;
    this.#timeoutMs = positiveNumber(
      options.operationTimeoutMs,
      'operationTimeoutMs',
      cluster ? retryForMs : OPERATION_TIMEOUT_MS,
    );
    const { host, port, db } = addressOf(this.#handle.client);
    const config: Record<string, JsonValue> = {
      kind: REDIS_STORE_KIND,
      name: options.name ?? `redis://${host}:${port}/${db}/${this.#prefix}`,
      host,
      port,
      db,
      prefix: this.#prefix,
    };
    if (ttl !== undefined) config.ttlMs = ttl;
    if (cluster) config.cluster = true;
    if (options.includeCredentialsInConfig) {
      const client = this.#handle.client as {
        options: RedisOptions & { redisOptions?: RedisOptions };
      };
      const { username, password } = client.options.redisOptions ?? client.options;
      if (username) config.username = username;
      if (password) config.password = password;
    }
    this.#config = Object.freeze(config) as StoreConfig;
  }

  /**
   * Makes a store. It resolves without a round trip: a connection the store opens connects in
   * the background (a server that cannot be reached or refuses the credentials makes the
   * operations fail with `StoreError`).
   * @throws {@link InvalidArgumentError} for `ttlMs` or `operationTimeoutMs` out of range.
   * @throws {@link AbortedError} when `options.signal` is already aborted (nothing is opened).
   */
  static async create(options: RedisStoreOptions = {}): Promise<RedisStore> {
    throwIfAborted(options.signal);
    return new RedisStore(options);
  }

  /** {@inheritDoc @proxystream/protocols#Store.put} */
  async put(data: Uint8Array): Promise<string> {
    const key = this.#newKey();
    await this.#run('put', () =>
      this.#handle.client.call('SET', this.#prefix + key, bufferView(data), ...this.#ttl),
    );
    return key;
  }

  /** {@inheritDoc @proxystream/protocols#Store.putBatch} */
  async putBatch(data: readonly Uint8Array[]): Promise<string[]> {
    if (data.length === 0) return [];
    const keys = data.map(() => this.#newKey());
    const client = this.#handle.client;
    if (isCluster(client)) {
      // One command per key: each goes to its slot's master (ioredis writes them without waiting
      // for each other), where one pipeline would be refused across slots.
      await this.#run('putBatch', () =>
        Promise.all(
          keys.map((key, i) =>
            client.call('SET', this.#prefix + key, bufferView(data[i]!), ...this.#ttl),
          ),
        ),
      );
      return keys;
    }
    const pipeline = client.pipeline();
    for (let i = 0; i < data.length; i++) {
      pipeline.call('SET', this.#prefix + keys[i]!, bufferView(data[i]!), ...this.#ttl);
    }
    const results = await this.#run('putBatch', () => pipeline.exec());
    const failed = results?.find(([error]) => error !== null);
    if (results === null || failed !== undefined) {
      throw new StoreError(`Redis store: putBatch failed: ${String(failed?.[0] ?? 'no reply')}`, {
        cause: withoutCredentials(failed?.[0]),
      });
    }
    return keys;
  }

  /** {@inheritDoc @proxystream/protocols#Store.get} */
  async get(key: string): Promise<Uint8Array | undefined> {
    this.#check(key);
    const value = await this.#run('get', () => this.#handle.client.getBuffer(this.#prefix + key));
    return value ?? undefined;
  }

  /** {@inheritDoc @proxystream/protocols#Store.exists} */
  async exists(key: string): Promise<boolean> {
    this.#check(key);
    return (await this.#run('exists', () => this.#handle.client.exists(this.#prefix + key))) === 1;
  }

  /** {@inheritDoc @proxystream/protocols#Store.evict} */
  async evict(key: string): Promise<void> {
    this.#check(key);
    await this.#run('evict', () => this.#handle.client.del(this.#prefix + key));
  }

  /** {@inheritDoc @proxystream/protocols#Store.config} */
  config(): StoreConfig {
    const client = this.#handle.client;
    if (!isCluster(client)) return this.#config;
    const nodes = clusterNodes(client);
    const listed = nodes.join(',');
    if (listed !== this.#configNodes) {
      this.#configNodes = listed;
      this.#config = Object.freeze({ ...this.#config, nodes }) as StoreConfig;
    }
    return this.#config;
  }

  /**
   * Ends every pending operation with `ClosedError` and closes the connection if the store opened
   * it. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError('Redis store');
    for (const reject of this.#pending) reject(closed);
    this.#pending.clear();
    releaseClient(this.#handle);
  }

  /** `await using store = await RedisStore.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #newKey(): string {
    if (this.#closed) throw new ClosedError('Redis store');
    return randomUUID();
  }

  #check(key: string): void {
    if (this.#closed) throw new ClosedError('Redis store');
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new InvalidStoreKeyError(String(key), 'not a key made by a Redis store');
    }
  }

  async #run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let stop: ((error: Error) => void) | undefined;
    const limit = new Promise<never>((_, reject) => {
      stop = reject;
      if (this.#timeoutMs === Number.POSITIVE_INFINITY) return;
      timer = setTimeout(
        () =>
          reject(
            new StoreError(
              `Redis store: ${what} got no answer within ${this.#timeoutMs} ms (server not ` +
                'answering, or not the kind of server the config says); raise operationTimeoutMs ' +
                'for very large objects',
            ),
          ),
        this.#timeoutMs,
      );
    });
    this.#pending.add(stop!);
    const budget = this.#retryForMs;
    try {
      return await Promise.race([
        budget === undefined ? operation() : retryAcrossFailover(operation, budget),
        limit,
      ]);
    } catch (error) {
      if (error instanceof StoreError || error instanceof ClosedError) throw error;
      throw new StoreError(`Redis store: ${what} failed: ${String(error)}`, {
        cause: withoutCredentials(error),
      });
    } finally {
      clearTimeout(timer);
      this.#pending.delete(stop!);
    }
  }
}

/** `host:port` of every node `cluster` was started with or has found, sorted, each once. */
function clusterNodes(cluster: Cluster): string[] {
  const found = cluster.nodes('all').map(({ options }) => ({
    host: options.host ?? '127.0.0.1',
    port: Number(options.port ?? 6379),
  }));
  const nodes = new Set<string>();
  for (const { host, port } of [...startupNodes(cluster), ...found]) nodes.add(`${host}:${port}`);
  return [...nodes].sort();
}
