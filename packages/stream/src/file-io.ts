import { read, readSync, write, writeSync } from 'node:fs';

/** The `code` of a Node.js system error (`'ENOENT'`, …), if it has one. Internal. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null
    ? (error as { code?: string }).code
    : undefined;
}

/**
 * Bytes a read buffer keeps in front of the object. Page-cache pages start at offset 0 of a page;
 * a large `Buffer` from glibc's `mmap` starts 16 bytes into one. The kernel's copy between two
 * addresses 16 bytes apart hits 4K aliasing and runs 2–3× slower on the machines measured (AMD
 * EPYC, 16 MiB: 9 ms instead of 4 ms); 48 bytes more moves the two 64 bytes apart. Internal.
 */
export const READ_LEAD = 48;

/** Size of the pieces a large object is moved in, each on a thread-pool thread of its own. */
const PIECE = 8 * 1024 * 1024;
/** At most this many pieces at once (libuv's pool has 4 threads by default). */
const MAX_PIECES = 4;

function readAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number) {
  return new Promise<number>((resolve, reject) => {
    read(fd, buffer, offset, length, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    );
  });
}

function writeAt(fd: number, data: Uint8Array, offset: number, length: number, position: number) {
  return new Promise<number>((resolve, reject) => {
    write(fd, data, offset, length, position, (error, bytesWritten) =>
      error ? reject(error) : resolve(bytesWritten),
    );
  });
}

/** The pieces `[start, end)` a transfer of `size` bytes is split into. */
function pieces(size: number): [number, number][] {
  const count = Math.max(1, Math.min(MAX_PIECES, Math.floor(size / PIECE)));
  // Page-aligned boundaries, so no page is copied by two threads.
  const step = Math.ceil(size / count / 4096) * 4096;
  const result: [number, number][] = [];
  for (let start = 0; start < size; start += step)
    result.push([start, Math.min(size, start + step)]);
  return result;
}

/** Writes all of `data` at the start of `fd`, on this thread. Internal. */
export function writeAllSync(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength)
    offset += writeSync(fd, data, offset, data.byteLength - offset, offset);
}

/**
 * Writes all of `data` at the start of `fd` on the thread pool, in up to four pieces at once for
 * large objects: the copy into the page cache is the larger part of a put, and two cores copy
 * faster than one. Internal.
 */
export async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  await Promise.all(
    pieces(data.byteLength).map(async ([start, end]) => {
      let offset = start;
      while (offset < end) offset += await writeAt(fd, data, offset, end - offset, offset);
    }),
  );
}

/**
 * Reads `size` bytes from the start of `fd` into `buffer` at `into`, on this thread; returns the
 * bytes read (fewer only if the file is shorter). Internal.
 */
export function readAllSync(fd: number, buffer: Uint8Array, into: number, size: number): number {
  let done = 0;
  while (done < size) {
    const bytesRead = readSync(fd, buffer, into + done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Reads `size` bytes from the start of `fd` into `buffer` at `into` on the thread pool, in up to
 * four pieces at once for large objects (the page faults of a fresh buffer then run on two
 * cores); returns the bytes read. Internal.
 */
export async function readAll(
  fd: number,
  buffer: Uint8Array,
  into: number,
  size: number,
): Promise<number> {
  const counts = await Promise.all(
    pieces(size).map(async ([start, end]) => {
      let offset = start;
      while (offset < end) {
        const bytesRead = await readAt(fd, buffer, into + offset, end - offset, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return offset - start;
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
