import { randomBytes } from 'node:crypto';
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
import { positiveInteger, withoutUserInfo } from '@proxystream/protocols/kit';
import {
  type HeldConnection,
  isNatsConnection,
  messageOf,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  serversOf,
} from './connection.js';

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
   * Default: the `servers` of `connection` settings, or the server a given connection is
   * connected to. Credentials in them are removed.
   */
  advertisedServers?: string[];
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

function bucketOptions(settings: ObjectBucketSettings): Partial<ObjectStoreOptions> {
  const options: Partial<ObjectStoreOptions> = {
    storage: settings.storage === 'memory' ? StorageType.Memory : StorageType.File,
  };
  if (settings.ttlMs !== undefined) options.ttl = nanos(settings.ttlMs);
  if (settings.maxBytes !== undefined) options.max_bytes = settings.maxBytes;
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
  #closing: Promise<void> | undefined;

  private constructor(
    held: HeldConnection,
    bucket: ObjectStore,
    name: string,
    servers: string[],
    chunkSize: number,
  ) {
    this.#held = held;
    this.#bucket = bucket;
    this.#name = name;
    this.#servers = servers;
    this.#chunkSize = chunkSize;
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
    const create = options.create ?? true;
    let held: HeldConnection;
    try {
      held = await openConnection(options.connection, options.signal);
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      throw new StoreError(messageOf(error), { cause: error });
    }
    try {
      const objm = new Objm(held.nc);
      const bucket =
        create === false
          ? await objm.open(options.bucket)
          : await objm.create(options.bucket, bucketOptions(create === true ? {} : create));
      if (options.signal?.aborted) throw new AbortedError();
      const servers =
        options.advertisedServers ??
        (isNatsConnection(options.connection)
          ? [held.nc.getServer()]
          : serversOf(options.connection));
      return new NatsObjectStore(
        held,
        bucket,
        options.bucket,
        servers.map(withoutUserInfo),
        chunkSize,
      );
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
      await this.#bucket.putBlob({ name: key, options: { max_chunk_size: this.#chunkSize } }, data);
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
      return (await this.#bucket.getBlob(key)) ?? undefined;
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
      const info = await this.#bucket.info(key);
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
      const info = await this.#bucket.info(key);
      if (info === null || info.deleted) return;
      await this.#bucket.delete(key);
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
