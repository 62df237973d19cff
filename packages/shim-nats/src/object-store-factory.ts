import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import {
  InvalidArgumentError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { withoutUserInfo } from './connection.js';
import { assertValidBucket, NATS_OBJECT_STORE_KIND, NatsObjectStore } from './object-store.js';

/** Options of {@link NatsObjectStoreFactory}. */
export interface NatsObjectStoreFactoryOptions {
  /**
   * Servers a config may name, as `host:port` or `nats://host:port`, compared exactly (lowercase,
   * no DNS resolution). An entry without a port means port **4222 only**, as in a NATS URL (unlike
   * `RedisStoreFactory`, where a bare host allows every port); a config's server without a port is
   * read the same way. Every server a config names must be allowed, or the config is refused with
   * `StoreNotAllowedError` before any connection, so a message cannot send the consumer elsewhere.
   */
  allowedServers: readonly string[];
  /**
   * Buckets a config may name; any other is refused with `StoreNotAllowedError` before any
   * connection. Default: every bucket of the allowed servers, so a forged config can make the
   * consumer read (and, for one-shot references, delete) objects of another application's bucket
   * on the same servers: set it whenever the servers hold buckets that are not the stream's.
   */
  allowedBuckets?: readonly string[];
  /**
   * Open every store on this connection instead of connecting to the config's servers (which
   * must still be allowed). The factory's stores never close it.
   */
  connection?: NatsConnection;
  /** Options for the connections the factory opens (credentials, TLS, name…). */
  connectOptions?: Omit<NodeConnectionOptions, 'servers'>;
}

/** `nats://Host:4222/` → `host:4222`, for comparing server addresses. */
function normalizeServer(server: string): string {
  let rest = server.trim().toLowerCase();
  const scheme = rest.indexOf('://');
  if (scheme >= 0) rest = rest.slice(scheme + 3);
  rest = rest.replace(/\/+$/, '');
  if (rest.includes('@')) return `\0${rest}`; // credentials in a URL never match an allowed server
  return /:\d+$/.test(rest) ? rest : `${rest}:4222`;
}

/** `value` as JSON for a message, with credentials in server URLs removed. */
function redacted(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'string' ? withoutUserInfo(item)[0] : item,
  );
}

/**
 * Reopens {@link NatsObjectStore}s from configs received over the wire — only on allowed servers
 * and buckets, never creating a bucket.
 *
 * @example
 * ```ts
 * const consumer = new StreamConsumer(subscriber, {
 *   stores: [new NatsObjectStoreFactory({ allowedServers: ['127.0.0.1:4222'] })],
 * });
 * ```
 */
export class NatsObjectStoreFactory implements StoreFactory {
  /** Always {@link NATS_OBJECT_STORE_KIND}. */
  readonly kind = NATS_OBJECT_STORE_KIND;
  readonly #servers: Set<string>;
  readonly #buckets: Set<string> | undefined;
  readonly #connection: NatsConnection | undefined;
  readonly #connectOptions: Omit<NodeConnectionOptions, 'servers'> | undefined;

  constructor(options: NatsObjectStoreFactoryOptions) {
    if (!Array.isArray(options?.allowedServers) || options.allowedServers.length === 0) {
      throw new InvalidArgumentError('NatsObjectStoreFactory needs at least one allowed server');
    }
    this.#servers = new Set(options.allowedServers.map(normalizeServer));
    this.#buckets =
      options.allowedBuckets === undefined ? undefined : new Set(options.allowedBuckets);
    this.#connection = options.connection;
    this.#connectOptions = options.connectOptions;
  }

  /**
   * Opens the bucket `config` names.
   * @throws {@link StoreNotAllowedError} for another kind, a server or bucket not allowed, or a malformed config.
   */
  async open(config: StoreConfig): Promise<Store> {
    if (config?.kind !== NATS_OBJECT_STORE_KIND) {
      throw new StoreNotAllowedError(
        `this factory opens ${NATS_OBJECT_STORE_KIND} stores, not ${String(config?.kind)}`,
      );
    }
    const bucket = config.bucket;
    try {
      assertValidBucket(bucket);
    } catch (error) {
      throw new StoreNotAllowedError(`a ${NATS_OBJECT_STORE_KIND} config names an invalid bucket`, {
        cause: error,
      });
    }
    if (this.#buckets !== undefined && !this.#buckets.has(bucket)) {
      throw new StoreNotAllowedError(
        `bucket ${JSON.stringify(bucket)} is not among the allowed buckets`,
      );
    }
    const servers = config.servers;
    if (
      !Array.isArray(servers) ||
      servers.length === 0 ||
      !servers.every(
        (server) => typeof server === 'string' && this.#servers.has(normalizeServer(server)),
      )
    ) {
      throw new StoreNotAllowedError(
        `a ${NATS_OBJECT_STORE_KIND} config names servers ${redacted(servers)}; allowed are ` +
          `${redacted([...this.#servers])} (pass them in allowedServers)`,
      );
    }
    const list = servers as string[];
    return NatsObjectStore.open({
      bucket,
      create: false,
      advertisedServers: list,
      ...(this.#connection === undefined
        ? {
            servers: list,
            ...(this.#connectOptions === undefined ? {} : { connectOptions: this.#connectOptions }),
          }
        : { connection: this.#connection }),
    });
  }
}
