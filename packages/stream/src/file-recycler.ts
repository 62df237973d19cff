import { closeSync, constants, fstatSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode } from './file-io.js';

/** How long an evicted object's file waits to be taken by the put of its writer. */
const HOLD_MS = 1000;
/** Keys a writer remembers as possibly coming back; the oldest is forgotten first. */
const REMEMBERED = 64;
/** Remembered keys a put tries, oldest first. */
const TRIES = 2;

/** The name an evicted object's file waits under; it starts with a dot, so it is never a key. */
export function freeName(key: string): string {
  return `.free-${key}`;
}

/** Recyclers holding free files; a process that exits without closing its stores deletes them. */
const holding = new Set<FileRecycler>();
let exitHook = false;

function hold(recycler: FileRecycler): void {
  holding.add(recycler);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const each of holding) each.deleteNow();
  });
}

/**
 * Reuses the files of evicted objects, so that a put overwrites page-cache pages that already
 * exist instead of allocating new ones and an evict renames instead of freeing them: measured on
 * 16 MiB objects, a put in 4.7 ms instead of 7.5 ms and an evict in 0.1 ms instead of 1.7 ms.
 *
 * - Evict renames `<key>` to `.free-<key>`. The evicting process deletes its free files that no
 *   put took within {@link HOLD_MS} (and all of them on close), so at most one second of evicted
 *   files stays on disk, whoever evicts.
 * - A put tries to rename the free file of a key it wrote earlier to its own temporary name, and
 *   overwrites it there; opened without following links, and only a plain file with one link.
 * - A reader that had the file open when it was evicted could see new bytes written into it, so
 *   {@link FileStore.get} checks after reading that the file still has its name; if not, the
 *   object counts as evicted during the read.
 *
 * Internal to {@link FileStore}.
 */
export class FileRecycler {
  readonly #directory: string;
  /** Keys this writer put, oldest first. */
  readonly #remembered: string[] = [];
  /** Free files this process made, oldest first, with the time they were made. */
  readonly #freed: { path: string; at: number }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(directory: string) {
    this.#directory = directory;
  }

  /** Notes that `key` was put by this store: its file may come back after an evict. */
  remember(key: string): void {
    if (this.#remembered.push(key) > REMEMBERED) this.#remembered.shift();
  }

  /**
   * Moves the free file of a remembered key to `temporary` and opens it for writing; returns
   * its descriptor and size, or `undefined` when none is free.
   */
  take(temporary: string): { fd: number; size: number } | undefined {
    const tries = Math.min(TRIES, this.#remembered.length);
    for (let i = 0; i < tries; i++) {
      const key = this.#remembered[i]!;
      try {
        renameSync(join(this.#directory, freeName(key)), temporary);
      } catch {
        continue; // not evicted yet, or deleted by its evictor
      }
      this.#remembered.splice(i, 1);
      const fd = this.#openPlain(temporary);
      if (fd !== undefined) return fd;
    }
    return undefined;
  }

  /** Evicts `path` (the file of `key`) by renaming it to its free name. */
  release(key: string): void {
    const path = join(this.#directory, freeName(key));
    try {
      renameSync(join(this.#directory, key), path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    if (this.#freed.push({ path, at: Date.now() }) === 1) hold(this);
    this.#timer ??= setTimeout(() => this.#sweep(false), HOLD_MS).unref();
  }

  /**
   * Deletes every free file this process made that no put took, and those of keys this writer
   * put (evicted elsewhere by a process that may exit before its own sweep).
   */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    holding.delete(this);
    for (const key of this.#remembered.splice(0))
      this.#freed.push({ path: join(this.#directory, freeName(key)), at: 0 });
    await this.#sweep(true);
  }

  /** Deletes the free files at once, on this thread (at process exit). */
  deleteNow(): void {
    for (const { path } of this.#freed.splice(0)) {
      try {
        unlinkSync(path);
      } catch {
        // taken or gone
      }
    }
  }

  async #sweep(all: boolean): Promise<void> {
    this.#timer = undefined;
    const due = Date.now() - HOLD_MS;
    const expired: string[] = [];
    while (this.#freed.length > 0 && (all || this.#freed[0]!.at <= due))
      expired.push(this.#freed.shift()!.path);
    // Taken files are gone from their free name: ENOENT is the common answer.
    await Promise.all(expired.map((path) => unlink(path).catch(() => undefined)));
    if (this.#freed.length === 0) holding.delete(this);
    else {
      const wait = Math.max(0, this.#freed[0]!.at + HOLD_MS - Date.now());
      this.#timer = setTimeout(() => this.#sweep(false), wait).unref();
    }
  }

  /** Opens `path` for writing if it is a plain file with one link; otherwise deletes it. */
  #openPlain(path: string): { fd: number; size: number } | undefined {
    let fd: number | undefined;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
      const stats = fstatSync(fd);
      if (stats.isFile() && stats.nlink === 1) return { fd, size: stats.size };
    } catch {
      // fall through: not usable
    }
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    return undefined;
  }
}
