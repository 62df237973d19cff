import { randomBytes } from 'node:crypto';
import { type DirectStreamAPI, jetstreamManager } from '@nats-io/jetstream';
import { type ObjectStore, type ObjectStoreOptions, Objm, StorageType } from '@nats-io/obj';
import { nanos } from '@nats-io/transport-node';
import {
  AbortedError,
  ClosedError,
  InvalidArgumentError,
  InvalidStoreKeyError,
  type Store,
  type StoreConfig,
  StoreError,
} from '@proxystream/protocols';
import { positiveInteger, positiveNumber, withoutUserInfo } from '@proxystream/protocols/kit';
import { configuredServers, defaultReplicas } from './cluster-size.js';
import {
  type HeldConnection,
  isNatsConnection,
  messageOf,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  serversOf,
} from './connection.js';
import { readChunks } from './object-read.js';
import { withRetries } from './transient.js';

/** `kind` of {@link NatsObjectStore} configs. */
export const NATS_OBJECT_STORE_KIND = 'nats-object';

/** Settings of a bucket {@link NatsObjectStore.create} creates when it is missing. */
export interface ObjectBucketSettings {
  /** `'file'` (default) survives a server restart; `'memory'` does not. */
  storage?: 'file' | 'memory';
  /** Objects older than this are removed, in ms. Default: kept until evicted. */
  ttlMs?: number;
  /** Most bytes the bucket holds; puts beyond fail. Default: no limit. */
  maxBytes?: number;
  /**
   * Copies of every object, each on another server of the cluster: the bucket survives the
   * death of a minority of them. Default: the number of servers of the connected server's
   * cluster, up to 3 (1 on a single server).
   */
  replicas?: number;
  /** Where the bucket's servers are chosen: a cluster by name, and/or servers with all these tags. */
  placement?: { cluster?: string; tags?: string[] };
}

/** Options of {@link NatsObjectStore.create}. */
export interface NatsObjectStoreOptions extends NatsConnectionOptions {
  /** Bucket name: letters, digits, `-` and `_`. */
  bucket: string;
  /**
   * Create the bucket when it does not exist, with these settings (`true`: the defaults).
   * Default `true`; with `false` a missing bucket is an error.
   */
  create?: boolean | ObjectBucketSettings;
  /** Size of the chunks an object is stored in, in bytes (below `max_payload`). Default 128 KiB. */
  chunkSize?: number;
  /**
   * Servers written into {@link NatsObjectStore.config} for other processes to reopen the bucket.
   * Default: every server of `connection` settings, or every server a given connection was
   * opened with (so that a consumer reopens the bucket through any of them, even after the
   * one connected now died). Credentials in them are removed.
   */
  advertisedServers?: string[];
  /**
   * How long a put, get, exists or evict keeps retrying through timeouts, reconnections and a
   * cluster's leader elections before it fails, in ms. Default 30 000.
   */
  retryForMs?: number;
  /** An aborted signal makes {@link NatsObjectStore.create} reject with `AbortedError`, opening nothing. */
  signal?: AbortSignal;
}

const KEY = /^[0-9a-f]{32}$/;
const BUCKET = /^[-\w]{1,64}$/;
const BATCH_CONCURRENCY = 8;

/** Checks a bucket name. @throws {@link InvalidArgumentError} */
export function assertValidBucket(bucket: unknown): asserts bucket is string {
  if (typeof bucket !== 'string' || !BUCKET.test(bucket)) {
    throw new InvalidArgumentError(
      `invalid bucket ${JSON.stringify(bucket)}: use 1 to 64 letters, digits, - or _`,
    );
  }
}

function checkedKey(key: string): string {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new InvalidStoreKeyError(String(key), 'not a key this store produced (32 hex digits)');
  }
  return key;
}

function bucketOptions(
  settings: ObjectBucketSettings,
  fallbackReplicas: number,
): Partial<ObjectStoreOptions> {
  const options: Partial<ObjectStoreOptions> = {
    storage: settings.storage === 'memory' ? StorageType.Memory : StorageType.File,
    replicas:
      settings.replicas === undefined
        ? fallbackReplicas
        : positiveInteger(settings.replicas, 'replicas', 1),
  };
  if (settings.ttlMs !== undefined) options.ttl = nanos(settings.ttlMs);
  if (settings.maxBytes !== undefined) options.max_bytes = settings.maxBytes;
  if (settings.placement !== undefined) {
    options.placement = {
      cluster: settings.placement.cluster ?? '',
      tags: settings.placement.tags ?? [],
    };
  }
  return options;
}

/**
 * Keeps the bulk bytes of objects in a JetStream object store bucket: an object of any size is
 * stored as chunks below the server's `max_payload`, so a 100 MiB frame travels as a 32-character
 * key. Its {@link config} names the bucket and servers (never credentials), so a consumer in
 * another process reopens it with a {@link NatsObjectStoreFactory}.
 *
 * @example
 * ```ts
 * await using store = await NatsObjectStore.create({
 *   connection: { servers: 'nats://127.0.0.1:4222' },
 *   bucket: 'frames',
 * });
 * const key = await store.put(bytes);
 * ```
 */
export class NatsObjectStore implements Store, AsyncDisposable {
  /** Always {@link NATS_OBJECT_STORE_KIND}. */
  readonly kind = NATS_OBJECT_STORE_KIND;
  readonly #held: HeldConnection;
  readonly #bucket: ObjectStore;
  readonly #name: string;
  readonly #servers: string[];
  readonly #chunkSize: number;
  readonly #direct: DirectStreamAPI;
  readonly #retryFor: number;
  #closing: Promise<void> | undefined;

  private constructor(
    held: HeldConnection,
    bucket: ObjectStore,
    name: string,
    servers: string[],
    settings: { chunkSize: number; retryFor: number; direct: DirectStreamAPI },
  ) {
    this.#held = held;
    this.#bucket = bucket;
    this.#name = name;
    this.#servers = servers;
    this.#chunkSize = settings.chunkSize;
    this.#retryFor = settings.retryFor;
    this.#direct = settings.direct;
  }

  /**
   * Opens (and by default creates) the bucket.
   * @throws {@link InvalidArgumentError} for an invalid bucket name or option, before connecting.
   * @throws {@link AbortedError} when `signal` is aborted; nothing stays open.
   * @throws {@link StoreError} when the server cannot be reached or the bucket cannot be opened.
   */
  static async create(options: NatsObjectStoreOptions): Promise<NatsObjectStore> {
    assertValidBucket(options?.bucket);
    const chunkSize = positiveInteger(options.chunkSize, 'chunkSize', 128 * 1024);
    const retryFor = positiveNumber(options.retryForMs, 'retryForMs', 30_000);
    const create = options.create ?? true;
    if (typeof create === 'object') bucketOptions(create, 1);
    let held: HeldConnection;
    try {
      held = await openConnection(options.connection, options.signal);
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      throw new StoreError(messageOf(error), { cause: error });
    }
    try {
      const nc = held.nc;
      const objm = new Objm(nc);
      const settings = create === true ? {} : create;
      const bucket = await withRetries(retryFor, () =>
        settings === false
          ? objm.open(options.bucket)
          : objm.create(options.bucket, bucketOptions(settings, defaultReplicas(nc))),
      );
      if (options.signal?.aborted) throw new AbortedError();
      const servers =
        options.advertisedServers ??
        (isNatsConnection(options.connection)
          ? configuredServers(nc)
          : serversOf(options.connection));
      const direct = (await jetstreamManager(nc)).direct;
      return new NatsObjectStore(held, bucket, options.bucket, servers.map(withoutUserInfo), {
        chunkSize,
        retryFor,
        direct,
      });
    } catch (error) {
      if (error instanceof AbortedError) {
        await releaseConnection(held);
        throw error;
      }
      await releaseConnection(held);
      throw new StoreError(
        `could not open object store bucket ${options.bucket}: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /** The bucket's name. */
  get bucket(): string {
    return this.#name;
  }

  async put(data: Uint8Array): Promise<string> {
    this.#assertOpen();
    const key = randomBytes(16).toString('hex');
    try {
      // A retried put writes the same name again: the object store keeps the last copy.
      await withRetries(this.#retryFor, () =>
        this.#bucket.putBlob({ name: key, options: { max_chunk_size: this.#chunkSize } }, data),
      );
    } catch (error) {
      throw new StoreError(`put into bucket ${this.#name} failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
    return key;
  }

  async putBatch(data: readonly Uint8Array[]): Promise<string[]> {
    const keys: string[] = new Array(data.length);
    let next = 0;
    const worker = async () => {
      while (next < data.length) {
        const index = next++;
        keys[index] = await this.put(data[index]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, data.length) }, worker));
    return keys;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkedKey(key);
    try {
      return await withRetries(this.#retryFor, async () => {
        const info = await this.#bucket.info(key);
        if (info === null || info.deleted) return undefined;
        // A link (never made by this store) is followed by the client's own get.
        if (info.options?.link !== undefined) return (await this.#bucket.getBlob(key)) ?? undefined;
        return await readChunks(this.#direct, this.#name, info);
      });
    } catch (error) {
      throw new StoreError(`get from bucket ${this.#name} failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async exists(key: string): Promise<boolean> {
    this.#assertOpen();
    checkedKey(key);
    try {
      const info = await withRetries(this.#retryFor, () => this.#bucket.info(key));
      return info !== null && !info.deleted;
    } catch (error) {
      throw new StoreError(`lookup in bucket ${this.#name} failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async evict(key: string): Promise<void> {
    this.#assertOpen();
    checkedKey(key);
    try {
      await withRetries(this.#retryFor, async () => {
        const info = await this.#bucket.info(key);
        if (info === null || info.deleted) return;
        await this.#bucket.delete(key);
      });
    } catch (error) {
      throw new StoreError(`evict from bucket ${this.#name} failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  /** `{ kind: 'nats-object', name: bucket, bucket, servers }`: no credentials. */
  config(): StoreConfig {
    return {
      kind: NATS_OBJECT_STORE_KIND,
      name: this.#name,
      bucket: this.#name,
      servers: [...this.#servers],
    };
  }

  /** Closes the connection if the store opened it; the bucket and its objects stay. */
  close(): Promise<void> {
    this.#closing ??= releaseConnection(this.#held);
    return this.#closing;
  }

  /** `await using store = await NatsObjectStore.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new ClosedError('NatsObjectStore');
  }
}
