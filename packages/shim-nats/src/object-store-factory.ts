import type { NatsConnection } from '@nats-io/transport-node';
import {
  InvalidArgumentError,
  type Store,
  type StoreConfig,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { redactedJson } from '@proxystream/protocols/kit';
import { isNatsConnection, type NatsConnectionSettings } from './connection.js';
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
   * A `NatsConnection` to open every store on instead of connecting to the config's servers
   * (which must still be allowed; the factory's stores never close it), or settings for the
   * connections the factory opens to the config's servers (credentials, TLS, name…): no
   * `servers` there, they come from the config. Default: the shim's connection defaults.
   */
  connection?: NatsConnection | Omit<NatsConnectionSettings, 'servers'>;
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
  readonly #settings: Omit<NatsConnectionSettings, 'servers'> | undefined;

  constructor(options: NatsObjectStoreFactoryOptions) {
    if (!Array.isArray(options?.allowedServers) || options.allowedServers.length === 0) {
      throw new InvalidArgumentError('NatsObjectStoreFactory needs at least one allowed server');
    }
    this.#servers = new Set(options.allowedServers.map(normalizeServer));
    this.#buckets =
      options.allowedBuckets === undefined ? undefined : new Set(options.allowedBuckets);
    const connection = options.connection;
    if (isNatsConnection(connection)) {
      this.#connection = connection;
    } else if (connection !== undefined) {
      if ('servers' in connection) {
        throw new InvalidArgumentError(
          'NatsObjectStoreFactory connection settings take no servers: they come from each ' +
            'store config, and only allowedServers are opened',
        );
      }
      this.#settings = connection;
    }
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
        `a ${NATS_OBJECT_STORE_KIND} config names servers ${redactedJson(servers)}; allowed are ` +
          `${redactedJson([...this.#servers])} (pass them in allowedServers)`,
      );
    }
    const list = servers as string[];
    return NatsObjectStore.create({
      bucket,
      create: false,
      advertisedServers: list,
      connection: this.#connection ?? { ...this.#settings, servers: list },
    });
  }
}
