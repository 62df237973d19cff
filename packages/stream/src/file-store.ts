import {
  closeSync,
  fdatasync,
  fstatSync,
  ftruncateSync,
  openSync,
  renameSync,
  statSync,
} from 'node:fs';
import { mkdir, realpath, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  ClosedError,
  type Store,
  type StoreConfig,
  StoreError,
  type StoreFactory,
  StoreNotAllowedError,
} from '@proxystream/protocols';
import { nonNegative } from '@proxystream/protocols/kit';
import { errorCode, READ_LEAD, readAll, readAllSync, writeAll, writeAllSync } from './file-io.js';
import { FileRecycler } from './file-recycler.js';
import { assertStoreKey, newStoreKey } from './store-keys.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** Directory holding one file per object; created on the first `put` if missing. Relative paths resolve against `process.cwd()`. */
  directory: string;
  /** Name in the store config; consumers open one store per (kind, name). Default: the absolute directory. */
  name?: string;
  /**
   * Flush each file to disk before it becomes visible, so an object survives a machine crash.
   * Writes are atomic for readers either way (temporary file, then rename). Default `false`.
   */
  fsync?: boolean;
  /**
   * Objects smaller than this many bytes are written and read on the calling thread, larger ones
   * on the thread pool (in pieces of 8 MiB, up to four at once). Below about 2 MiB a thread-pool
   * round trip costs more than the copy it saves the event loop; the loop is blocked at most for
   * the copy of this many bytes (about 0.5 ms for 2 MiB where measured). `0` moves every object on
   * the thread pool. Metadata calls (open, fstat, rename, close) always run on the calling thread:
   * microseconds on a local file system. Default {@link DEFAULT_SYNC_BELOW} (2 MiB).
   */
  syncBelow?: number;
  /**
   * Reuse the files of evicted objects for later puts of this store (see the class notes):
   * measured at 16 MiB, a put 1.6× and an evict 17× faster. An evicted object's file then stays
   * on disk, under a name that is never a key, for at most a second. Default `true`.
   */
  recycle?: boolean;
}

/** Default of {@link FileStoreOptions.syncBelow}: 2 MiB. */
export const DEFAULT_SYNC_BELOW = 2 * 1024 * 1024;

/**
 * A store that writes each object to its own file in a directory, shared by every process and
 * worker that can see the directory.
 *
 * - Keys are 32 random hex characters made by the store; any other key (from the wire, say
 *   `../../etc/passwd`) is rejected with `InvalidStoreKeyError`, so no key names a path outside
 *   the directory.
 * - A `put` writes a temporary file and renames it into place: a reader sees the whole object or
 *   nothing.
 * - With `recycle` (the default), an evict renames the object's file to `.free-<key>` and a later
 *   put of the store that wrote it overwrites that file under a temporary name before renaming it
 *   to its new key: no page-cache pages are freed and allocated again. The evicting process
 *   deletes free files no put took within a second, and all of its own on `close`. A `get` checks
 *   after reading that the file still has its name, so a read that raced an evict answers
 *   `undefined` (evicted) and never bytes of another object.
 * - A `get` returns a `Buffer` of exactly the object's bytes, a view that starts 48 bytes into its
 *   own `ArrayBuffer` (the kernel copies from the page cache 2–3× faster into it, see `file-io.ts`).
 */
export class FileStore implements Store {
  /** Always `'file'`. */
  readonly kind = 'file';
  /** Absolute path of the directory. */
  readonly directory: string;
  /** Name in the store config. */
  readonly name: string;
  readonly #fsync: boolean;
  readonly #syncBelow: number;
  readonly #recycler: FileRecycler | undefined;
  #ready: Promise<unknown> | undefined;
  #closed = false;

  /**
   * Opens a file store on `options.directory` (created on the first `put` if missing). Use it
   * with `await using` to close the store at the end of the scope.
   *
   * @example
   * ```ts
   * await using store = await FileStore.create({ directory: '/data/frames' });
   * ```
   */
  static async create(options: FileStoreOptions): Promise<FileStore> {
    return new FileStore(options);
  }

  private constructor(options: FileStoreOptions) {
    this.directory = resolve(options.directory);
    this.name = options.name ?? this.directory;
    this.#fsync = options.fsync ?? false;
    this.#syncBelow = nonNegative(options.syncBelow, 'syncBelow', DEFAULT_SYNC_BELOW);
    this.#recycler = (options.recycle ?? true) ? new FileRecycler(this.directory) : undefined;
  }

  async put(data: Uint8Array): Promise<string> {
    this.#assertOpen();
    this.#ready ??= mkdir(this.directory, { recursive: true }).catch((error: unknown) => {
      this.#ready = undefined;
      throw new StoreError(`cannot create directory ${this.directory}`, { cause: error });
    });
    await this.#ready;
    const key = newStoreKey();
    const path = join(this.directory, key);
    // Temporary names start with a dot and end in .tmp, so they are never valid keys.
    const temporary = join(this.directory, `.${key}.tmp`);
    try {
      const reused = this.#recycler?.take(temporary);
      const fd = reused?.fd ?? openSync(temporary, 'wx');
      try {
        if (data.byteLength < this.#syncBelow) writeAllSync(fd, data);
        else await writeAll(fd, data);
        if (reused !== undefined && reused.size > data.byteLength)
          ftruncateSync(fd, data.byteLength);
        if (this.#fsync) await syncData(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw new StoreError(`cannot write ${path}`, { cause: error });
    }
    this.#recycler?.remember(key);
    return key;
  }

  async putBatch(data: readonly Uint8Array[]): Promise<string[]> {
    return Promise.all(data.map((item) => this.put(item)));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertStoreKey(key);
    const path = join(this.directory, key);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return this.#missing(error, undefined);
      throw new StoreError(`cannot read key ${key} in ${this.directory}`, { cause: error });
    }
    try {
      const { size, ino } = fstatSync(fd);
      // Unpooled even when small: the object may be kept (cached by its reference) for long.
      const buffer = Buffer.allocUnsafeSlow(READ_LEAD + size);
      const read =
        size < this.#syncBelow
          ? readAllSync(fd, buffer, READ_LEAD, size)
          : await readAll(fd, buffer, READ_LEAD, size);
      // Evicted while we read? Its file may then hold another object's bytes (recycling).
      const after = statSync(path, { throwIfNoEntry: false });
      if (after === undefined || after.ino !== ino) return undefined;
      return buffer.subarray(READ_LEAD, READ_LEAD + read);
    } catch (error) {
      throw new StoreError(`cannot read key ${key} in ${this.directory}`, { cause: error });
    } finally {
      closeSync(fd);
    }
  }

  async exists(key: string): Promise<boolean> {
    this.#assertOpen();
    assertStoreKey(key);
    try {
      return (await stat(join(this.directory, key))).isFile();
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return this.#missing(error, false);
      throw new StoreError(`cannot stat key ${key} in ${this.directory}`, { cause: error });
    }
  }

  async evict(key: string): Promise<void> {
    this.#assertOpen();
    assertStoreKey(key);
    try {
      if (this.#recycler !== undefined) this.#recycler.release(key);
      else await unlink(join(this.directory, key));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw new StoreError(`cannot delete key ${key} in ${this.directory}`, { cause: error });
    }
  }

  config(): StoreConfig {
    return { kind: 'file', name: this.name, directory: this.directory };
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Marks the handle closed and deletes the evicted files it kept for reuse; objects stay on disk. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#recycler?.close();
  }

  /** Same as {@link close}; lets `await using` close the store. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`FileStore ${this.directory}`);
  }

  /**
   * `answer` for a missing file, unless the whole directory is gone: that is a broken store
   * (removed, unmounted), not an evicted object, and `ObjectNotFoundError` would mislead.
   * Costs one `stat` on a miss only.
   */
  async #missing<T>(cause: unknown, answer: T): Promise<T> {
    const directory = await stat(this.directory).catch((error: unknown) => error);
    if (directory instanceof Error && errorCode(directory) === 'ENOENT') {
      throw new StoreError(
        `file store directory ${this.directory} no longer exists (removed or unmounted?); no object can be read from it`,
        { cause },
      );
    }
    return answer;
  }
}

function syncData(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (error) => (error ? reject(error) : resolve()));
  });
}

/** Options of {@link FileStoreFactory}. */
export interface FileStoreFactoryOptions {
  /**
   * Directories inside which a config from the wire may name a store directory (symbolic links
   * resolved). `'any'` allows every directory: only for configs from trusted producers.
   */
  allowedRoots: readonly string[] | 'any';
  /** Passed to every store opened. Default `false`. */
  fsync?: boolean;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Opens {@link FileStore}s from `{ kind: 'file', name, directory }` configs, only for directories
 * under one of `allowedRoots`.
 *
 * @example
 * ```ts
 * const consumer = new StreamConsumer(subscriber, { stores: [new FileStoreFactory({ allowedRoots: ['/data/frames'] })] });
 * ```
 */
export class FileStoreFactory implements StoreFactory {
  /** Always `'file'`. */
  readonly kind = 'file';
  readonly #allowedRoots: readonly string[] | 'any';
  readonly #fsync: boolean;
  #roots: Promise<string[]> | undefined;

  constructor(options: FileStoreFactoryOptions) {
    this.#allowedRoots = options.allowedRoots;
    this.#fsync = options.fsync ?? false;
  }

  async open(config: StoreConfig): Promise<Store> {
    if (config.kind !== 'file') {
      throw new StoreNotAllowedError(
        `FileStoreFactory cannot open a store of kind "${config.kind}"`,
      );
    }
    const directory = config.directory;
    if (typeof directory !== 'string' || !isAbsolute(directory)) {
      throw new StoreNotAllowedError('a file store config needs an absolute "directory"');
    }
    if (this.#allowedRoots === 'any') {
      return FileStore.create({
        directory: await this.#realpath(directory),
        name: config.name,
        fsync: this.#fsync,
      });
    }
    // The config comes from the wire: refuse on the path as written before touching the file
    // system, so that the answer for a path outside the roots is the same whether or not it
    // exists. Roots count both as given and resolved, so `/tmp/x` and `/private/tmp/x` both pass
    // where `/tmp` is a link.
    this.#roots ??= this.#resolveRoots(this.#allowedRoots);
    const roots = await this.#roots;
    if (!roots.some((root) => isInside(root, resolve(directory)))) this.#refuse(directory);
    // Only now follow links, and check again: a link inside a root may lead out of it.
    const real = await this.#realpath(directory);
    if (!roots.some((root) => isInside(root, real))) this.#refuse(directory);
    return FileStore.create({ directory: real, name: config.name, fsync: this.#fsync });
  }

  async #resolveRoots(allowedRoots: readonly string[]): Promise<string[]> {
    const given = allowedRoots.map((root) => resolve(root));
    let missing = false;
    const real = await Promise.all(
      given.map((root) =>
        realpath(root).catch(() => {
          missing = true;
          return root;
        }),
      ),
    );
    // A root created later (by the first `put`, say) is resolved again on the next open.
    if (missing) this.#roots = undefined;
    return [...new Set([...given, ...real])];
  }

  async #realpath(directory: string): Promise<string> {
    try {
      return await realpath(directory);
    } catch (error) {
      throw new StoreError(`file store directory ${directory} cannot be opened`, { cause: error });
    }
  }

  #refuse(directory: string): never {
    throw new StoreNotAllowedError(
      `file store directory ${directory} is outside the allowed roots (symbolic links resolved); add its parent to FileStoreFactory's allowedRoots`,
    );
  }
}
