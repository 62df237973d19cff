import { readFileSync } from 'node:fs';

/** System calls of one phase of one iteration, from an `strace -f -T` log. */
export interface PhaseSyscalls {
  /** Calls, waits excluded. */
  readonly calls: number;
  /** Of those, calls made by threads other than the one that wrote the markers (the pool's). */
  readonly otherThreads: number;
  /** Time inside those calls (strace's `-T`), ms. */
  readonly ms: number;
  /** Calls that wait (futex, epoll, poll, sleeps): counted apart, their time is idleness. */
  readonly waits: number;
  /** Bytes the kernel copied into user memory (results of the read/recv family). */
  readonly readBytes: number;
  /** Bytes the kernel copied out of user memory (results of the write/send family). */
  readonly writtenBytes: number;
  /** Per system call name: calls and ms, waits excluded. */
  readonly byName: ReadonlyMap<string, { calls: number; ms: number }>;
}

const WAITS = new Set([
  'futex',
  'epoll_wait',
  'epoll_pwait',
  'epoll_pwait2',
  'poll',
  'ppoll',
  'select',
  'pselect6',
  'nanosleep',
  'clock_nanosleep',
  'wait4',
]);

/** Calls whose non-negative result counts bytes the kernel copied into user memory. */
const READS = new Set(['read', 'pread64', 'readv', 'preadv', 'preadv2', 'recvfrom', 'recvmsg']);
/** Calls whose non-negative result counts bytes the kernel copied out of user memory. */
const WRITES = new Set(['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'sendto', 'sendmsg']);

const MARKER = /"@@bd (.+) (\d+) ([be])\\n"/;
const START = /^(\d+)\s+([a-z0-9_]+)\(/;
const RESUMED = /^(\d+)\s+<\.\.\. ([a-z0-9_]+) resumed>/;
const RESULT = /= (-?\d+|0x[0-9a-f]+|\?)(?: .*)? <([\d.]+)>$/;

/**
 * Cuts an `strace -f -T -o FILE` log into the phases the traced process bracketed with writes of
 * `@@bd <phase> <iteration> b|e` (see breakdown-child.ts): key `<phase> <iteration>`. A call
 * counts in the phase its completion line falls in; the marker writes themselves do not count.
 */
export function parseStrace(file: string): Map<string, PhaseSyscalls> {
  const phases = new Map<string, PhaseSyscalls>();
  let open:
    | {
        key: string;
        calls: number;
        otherThreads: number;
        ms: number;
        waits: number;
        readBytes: number;
        writtenBytes: number;
        byName: Map<string, { calls: number; ms: number }>;
      }
    | undefined;
  let markerThread = '';
  /** Threads whose unfinished call is a marker write, so that its resumption is skipped. */
  const markerPending = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const marker = MARKER.exec(line);
    const start = START.exec(line);
    if (marker !== null && start !== null) {
      markerThread = start[1]!;
      if (line.includes('<unfinished ...>')) markerPending.add(start[1]!);
      const key = `${marker[1]} ${marker[2]}`;
      if (marker[3] === 'b') {
        open = {
          key,
          calls: 0,
          otherThreads: 0,
          ms: 0,
          waits: 0,
          readBytes: 0,
          writtenBytes: 0,
          byName: new Map(),
        };
      } else if (open?.key === key) {
        phases.set(key, open);
        open = undefined;
      }
      continue;
    }
    if (line.includes('<unfinished ...>')) continue;
    let thread: string;
    let name: string;
    const resumed = RESUMED.exec(line);
    if (resumed !== null) {
      thread = resumed[1]!;
      name = resumed[2]!;
      if (markerPending.delete(thread)) continue;
    } else if (start !== null) {
      thread = start[1]!;
      name = start[2]!;
    } else continue;
    if (open === undefined) continue;
    const result = RESULT.exec(line);
    if (WAITS.has(name)) {
      open.waits++;
      continue;
    }
    const ms = result === null ? 0 : Number(result[2]) * 1e3;
    open.calls++;
    if (thread !== markerThread) open.otherThreads++;
    open.ms += ms;
    if (result !== null && /^\d+$/.test(result[1]!)) {
      if (READS.has(name)) open.readBytes += Number(result[1]);
      else if (WRITES.has(name)) open.writtenBytes += Number(result[1]);
    }
    const entry = open.byName.get(name) ?? { calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += ms;
    open.byName.set(name, entry);
  }
  return phases;
}
