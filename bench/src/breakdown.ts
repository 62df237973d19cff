import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type {
  BreakdownChildResult,
  BreakdownChildSettings,
  PhaseSample,
} from './breakdown-child.js';
import { type PhaseSyscalls, parseStrace } from './breakdown-strace.js';
import type { BenchConfig } from './config.js';
import { bytes, fixed, si, sizeLabel, spread, table } from './format.js';
import { progress, type SectionResult } from './report.js';
import { type Summary, summarize } from './stats.js';
import { MiB } from './timing.js';

const run = promisify(execFile);
const STRACE = '/usr/bin/strace';
const CHILD = fileURLToPath(new URL('./breakdown-child.js', import.meta.url));

type Who = 'proxystream' | 'ProxyStore' | 'bound';
const WHO: readonly Who[] = ['proxystream', 'ProxyStore', 'bound'];

/** What one child run reports: per phase its samples, and per measured iteration its system calls. */
interface ChildRun {
  readonly phases: Record<string, (PhaseSample & { heapPeak?: number })[]>;
  readonly syscalls?: Record<string, PhaseSyscalls[]>;
}

interface Directory {
  readonly label: string;
  readonly path: string;
}

/** File system type of the mount holding `path` (longest mount point that is a prefix). */
function fileSystemType(path: string): string {
  let best = { point: '', type: '?' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, point, type] = line.split(' ');
      if (point === undefined || type === undefined) continue;
      const inside = path === point || path.startsWith(point === '/' ? '/' : `${point}/`);
      if (inside && point.length > best.point.length) best = { point, type };
    }
  } catch {
    // not Linux: the label says '?'
  }
  return best.type;
}

/** Runs `command` (under strace when `trace`), returns its last stdout line as JSON and the trace. */
async function runChild(
  command: string,
  args: readonly string[],
  trace: boolean,
  iterations: number,
  warmup: number,
): Promise<ChildRun> {
  const traceFile = join(tmpdir(), `proxystream-breakdown-${process.pid}-${Date.now()}.strace`);
  const [file, argv] = trace
    ? [STRACE, ['-f', '-T', '-qq', '-s', '48', '-o', traceFile, command, ...args]]
    : [command, [...args]];
  try {
    const { stdout } = await run(file, argv, { timeout: 300_000, maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as BreakdownChildResult;
    if (!trace) return result;
    const parsed = parseStrace(traceFile);
    const syscalls: Record<string, PhaseSyscalls[]> = {};
    for (const phase of Object.keys(result.phases)) {
      syscalls[phase] = [];
      for (let i = warmup; i < warmup + iterations; i++) {
        const entry = parsed.get(`${phase} ${i}`);
        if (entry !== undefined) syscalls[phase]!.push(entry);
      }
    }
    return { phases: result.phases, syscalls };
  } finally {
    rmSync(traceFile, { force: true });
  }
}

interface RunOptions {
  readonly who: Who;
  readonly dir: string;
  readonly size: number;
  readonly iterations: number;
  readonly warmup: number;
  /** The counting pass: strace, markers, thread-pool and copy counting. */
  readonly counting: boolean;
}

async function runContender(
  config: BenchConfig,
  python: string,
  trace: boolean,
  o: RunOptions,
): Promise<ChildRun> {
  const traced = o.counting && trace;
  if (o.who === 'ProxyStore') {
    const url = new URL(config.redisUrl);
    return runChild(
      python,
      [
        join(config.root, 'bench', 'python', 'proxystore_breakdown.py'),
        '--dir',
        o.dir,
        '--size',
        String(o.size),
        '--iterations',
        String(o.iterations),
        '--warmup',
        String(o.warmup),
        '--redis',
        `${url.hostname}:${url.port || 6379}`,
        ...(o.counting ? ['--markers', '--count-copies'] : []),
      ],
      traced,
      o.iterations,
      o.warmup,
    );
  }
  const settings: BreakdownChildSettings = {
    who: o.who,
    dir: o.dir,
    size: o.size,
    iterations: o.iterations,
    warmup: o.warmup,
    redisUrl: config.redisUrl,
    markers: o.counting,
    count: o.counting,
  };
  return runChild(
    process.execPath,
    ['--expose-gc', CHILD, JSON.stringify(settings)],
    traced,
    o.iterations,
    o.warmup,
  );
}

/** Everything measured for one (size, directory, contender, phase). */
interface Cell {
  wall: Summary;
  user: number;
  sys: number;
  minor: number;
  major: number;
  pool: number | undefined;
  userCopied: number | undefined;
  syscalls: PhaseSyscalls[] | undefined;
}

const median = (values: readonly number[]) => summarize(values).median;

/** A count: whole numbers as they are, a median between two as x.5, thousands as 25.6k. */
const count = (value: number) =>
  value >= 1000 ? si(value) : Number.isInteger(value) ? String(value) : value.toFixed(1);

function cellOf(
  timed: readonly PhaseSample[],
  counted: readonly (PhaseSample & { heapPeak?: number })[],
  syscalls: PhaseSyscalls[] | undefined,
  size: number,
): Cell {
  const kernelRead = syscalls?.length ? median(syscalls.map((s) => s.readBytes)) : 0;
  let userCopied: number | undefined;
  if (counted.length > 0 && counted[0]!.jsCopied !== undefined)
    userCopied = median(counted.map((c) => c.jsCopied!));
  else if (counted.length > 0 && counted[0]!.heapPeak !== undefined) {
    // Python: new heap at the phase's peak, less what the kernel read into new buffers, in
    // whole objects (a copy of the object is what matters; small allocations are not copies).
    const peak = median(counted.map((c) => c.heapPeak!));
    userCopied = Math.max(0, Math.round((peak - kernelRead) / size)) * size;
  }
  return {
    wall: summarize(timed.map((t) => t.wallMs)),
    user: median(timed.map((t) => t.userMs)),
    sys: median(timed.map((t) => t.sysMs)),
    minor: median(timed.map((t) => t.minorFaults)),
    major: median(timed.map((t) => t.majorFaults)),
    pool: counted.length > 0 ? median(counted.map((c) => c.pool)) : undefined,
    userCopied,
    syscalls,
  };
}

function syscallCells(list: PhaseSyscalls[] | undefined, traceNote: string): [string, string] {
  if (list === undefined) return [traceNote, ''];
  if (list.length === 0) return ['no marker in trace', ''];
  const calls = median(list.map((s) => s.calls));
  const ms = median(list.map((s) => s.ms));
  const other = median(list.map((s) => s.otherThreads));
  const waits = median(list.map((s) => s.waits));
  let text = `${count(calls)}, ${si(ms)} ms`;
  if (other > 0) text += ` (${count(other)} off the main thread)`;
  if (waits > 0) text += `; ${count(waits)} waits`;
  const last = list[list.length - 1]!;
  const top = [...last.byName]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 3)
    .map(([name, e]) => `${name} ${e.calls}× ${si(e.ms)}`)
    .join(', ');
  return [text, top];
}

/** Section: where the time of one large object goes, phase by phase, next to the machine's bound. */
export async function breakdown(config: BenchConfig): Promise<SectionResult> {
  const title = "Where a large object's time goes";
  const python = join(config.root, '.cache', 'bench-venv', 'bin', 'python');
  const havePython = existsSync(python);
  const trace = existsSync(STRACE);
  const traceNote = trace ? '' : 'strace not available';
  const directories: Directory[] = [];
  const cacheDir = join(config.root, '.cache', 'bench', 'breakdown-files');
  directories.push({
    label: `${fileSystemType(resolve(cacheDir))} (.cache/bench)`,
    path: cacheDir,
  });
  if (existsSync('/dev/shm'))
    directories.push({
      label: `${fileSystemType('/dev/shm')} (/dev/shm)`,
      path: join('/dev/shm', `proxystream-bench-breakdown-${process.pid}`),
    });
  const sizes = [MiB, 16 * MiB, 100 * MiB];
  const rounds = config.quick ? 2 : 3;
  const iterations = config.quick ? 2 : 3;
  const countIterations = config.quick ? 1 : 2;
  const warmup = 1;
  const contenders = WHO.filter((w) => w !== 'ProxyStore' || havePython);

  const cells = new Map<string, Cell>();
  const errors = new Map<string, string>();
  const phaseNames = new Map<Who, string[]>();
  const cellKey = (size: number, dir: string, who: Who, phase: string) =>
    `${size}|${dir}|${who}|${phase}`;
  try {
    for (const size of sizes) {
      for (const dir of directories) {
        rmSync(dir.path, { recursive: true, force: true });
        mkdirSync(dir.path, { recursive: true });
        const timed = new Map<Who, Record<string, PhaseSample[]>>();
        for (let round = 0; round < rounds; round++) {
          progress(`breakdown ${sizeLabel(size)} ${dir.label} round ${round + 1}`);
          const order = round % 2 === 0 ? contenders : [...contenders].reverse();
          for (const who of order) {
            const errorKey = `${size}|${dir.label}|${who}`;
            if (errors.has(errorKey)) continue;
            try {
              const result = await runContender(config, python, trace, {
                who,
                dir: dir.path,
                size,
                iterations,
                warmup,
                counting: false,
              });
              const all = timed.get(who) ?? {};
              for (const [phase, samples] of Object.entries(result.phases))
                all[phase] = [...(all[phase] ?? []), ...samples];
              timed.set(who, all);
              phaseNames.set(who, Object.keys(result.phases));
            } catch (error) {
              errors.set(errorKey, (error as Error).message.split('\n')[0]!.slice(0, 160));
            }
          }
        }
        for (const who of contenders) {
          const samples = timed.get(who);
          if (samples === undefined) continue;
          let counted: ChildRun | undefined;
          try {
            progress(`breakdown ${sizeLabel(size)} ${dir.label} ${who} counting pass`);
            counted = await runContender(config, python, trace, {
              who,
              dir: dir.path,
              size,
              iterations: countIterations,
              warmup,
              counting: true,
            });
          } catch (error) {
            progress(`breakdown counting pass failed: ${(error as Error).message.split('\n')[0]}`);
          }
          for (const [phase, list] of Object.entries(samples)) {
            cells.set(
              cellKey(size, dir.label, who, phase),
              cellOf(list, counted?.phases[phase] ?? [], counted?.syscalls?.[phase], size),
            );
          }
        }
      }
    }
  } finally {
    for (const dir of directories) rmSync(dir.path, { recursive: true, force: true });
  }

  const whoLabel: Record<Who, string> = {
    proxystream: 'proxystream FileStore',
    ProxyStore: 'ProxyStore FileConnector',
    bound: 'machine bound',
  };
  const tables: string[] = [];
  for (const size of sizes) {
    const rows: string[][] = [];
    for (const dir of directories) {
      for (const who of contenders) {
        const error = errors.get(`${size}|${dir.label}|${who}`);
        if (error !== undefined && !phaseNames.has(who)) {
          rows.push([dir.label, whoLabel[who], '–', `failed: ${error}`, '', '', '', '', '', '']);
          continue;
        }
        for (const phase of phaseNames.get(who) ?? []) {
          const c = cells.get(cellKey(size, dir.label, who, phase));
          if (c === undefined) {
            rows.push([
              dir.label,
              whoLabel[who],
              phase,
              `failed: ${error ?? '?'}`,
              '',
              '',
              '',
              '',
              '',
              '',
            ]);
            continue;
          }
          const [calls, top] = syscallCells(c.syscalls, traceNote);
          const kernel = c.syscalls?.length
            ? median(c.syscalls.map((s) => s.readBytes + s.writtenBytes))
            : undefined;
          rows.push([
            dir.label,
            whoLabel[who],
            phase,
            spread(c.wall),
            `${si(c.user)} / ${si(c.sys)}`,
            calls,
            top,
            c.pool === undefined ? '–' : count(c.pool),
            `${c.userCopied === undefined ? '–' : bytes(c.userCopied)} / ${kernel === undefined ? '–' : bytes(kernel)}`,
            `${count(c.minor)}${c.major > 0 ? ` (${count(c.major)} major)` : ''}`,
          ]);
        }
      }
    }
    tables.push(
      `### ${sizeLabel(size)}`,
      '',
      table(
        [
          'directory',
          'who',
          'phase',
          'wall ms median (min–max)',
          'CPU user / sys ms',
          'syscalls: calls, ms',
          'costliest syscalls, last traced iteration (calls× ms)',
          'thread-pool trips',
          'copied user / kernel',
          'minor page faults',
        ],
        rows,
      ),
      '',
    );
  }

  const wall = (size: number, dir: Directory | undefined, who: Who, phase: string) =>
    dir === undefined ? undefined : cells.get(cellKey(size, dir.label, who, phase));
  const ms = (c: Cell | undefined) => (c === undefined ? '–' : `${si(c.wall.median)} ms`);
  const times = (a: Cell | undefined, b: Cell | undefined) =>
    a === undefined || b === undefined ? '–' : `${fixed(a.wall.median / b.wall.median, 1)}×`;
  const [disk, shm] = directories;
  const M16 = 16 * MiB;
  const M100 = 100 * MiB;
  const highlights: string[] = [];
  const phasesOf = (who: Who, dir: Directory | undefined) =>
    ['put', 'read', 'evict'].map((p) => ms(wall(M16, dir, who, p))).join(' / ');
  highlights.push(
    `breakdown 16 MiB on ${disk!.label}, put / read / evict: proxystream ${phasesOf('proxystream', disk)}` +
      (havePython ? `, ProxyStore ${phasesOf('ProxyStore', disk)}` : '') +
      `; the machine's bound overwrite ${ms(wall(M16, disk, 'bound', 'overwrite'))}, read ${ms(wall(M16, disk, 'bound', 'read warm +64'))}, unlink ${ms(wall(M16, disk, 'bound', 'unlink'))}`,
  );
  highlights.push(
    `breakdown: reading 16 MiB into a buffer 16 bytes past a page boundary takes ${times(wall(M16, disk, 'bound', 'read warm +16'), wall(M16, disk, 'bound', 'read warm +64'))} as long as 64 bytes past one ` +
      `(${ms(wall(M16, disk, 'bound', 'read warm +16'))} vs ${ms(wall(M16, disk, 'bound', 'read warm +64'))}, ${disk!.label})`,
  );
  const fresh = wall(M100, disk, 'bound', 'read fresh');
  highlights.push(
    `breakdown: a read of 100 MiB into a fresh buffer ${ms(fresh)} (${fresh === undefined ? '–' : count(fresh.minor)} minor page faults) vs ${ms(wall(M100, disk, 'bound', 'read warm +64'))} into a warm one; ` +
      `writing a new 16 MiB file ${times(wall(M16, disk, 'bound', 'write new'), wall(M16, disk, 'bound', 'overwrite'))} the time of overwriting one`,
  );
  const read100 = (who: Who) => {
    const c = wall(M100, disk, who, 'read');
    return c === undefined
      ? '–'
      : `${ms(c)} (${c.userCopied === undefined ? '–' : bytes(c.userCopied)} copied in user space, ${count(c.minor)} minor page faults)`;
  };
  highlights.push(
    `breakdown 100 MiB read on ${disk!.label}: proxystream ${read100('proxystream')}` +
      (havePython ? `, ProxyStore ${read100('ProxyStore')}` : '') +
      `; the machine reads it into a warm buffer in ${ms(wall(M100, disk, 'bound', 'read warm +64'))}`,
  );
  if (shm !== undefined) {
    highlights.push(
      `breakdown 16 MiB ${shm.label} ÷ ${disk!.label}: bound read ${times(wall(M16, shm, 'bound', 'read warm +64'), wall(M16, disk, 'bound', 'read warm +64'))}, ` +
        `overwrite ${times(wall(M16, shm, 'bound', 'overwrite'), wall(M16, disk, 'bound', 'overwrite'))}, ` +
        `proxystream read ${times(wall(M16, shm, 'proxystream', 'read'), wall(M16, disk, 'proxystream', 'read'))}, put ${times(wall(M16, shm, 'proxystream', 'put'), wall(M16, disk, 'proxystream', 'put'))}`,
    );
  }

  const body = [
    'One object at a time through the phases of a stream object, in child processes of their own, on the ' +
      `anchor's file system (${disk!.label}) and on ${shm?.label ?? 'no tmpfs'}: **put** (producer writes the object to the store), ` +
      '**event** (one Redis PUBLISH round trip of an event-sized message: topic, key, store config), **open** (the ' +
      "consumer opens the store from the producer's config, as on the first event naming it: a new " +
      '`FileStoreFactory({ allowedRoots }).open(config)`, and `Store.from_config(config)` for ProxyStore), **read** ' +
      "(`get(key)`; ProxyStore's checks the `.ready` marker, reads the file and deserializes) and **evict**. " +
      'proxystream is `FileStore` through its public API only, so the rows measure whatever `file-store.ts` does ' +
      'at the time of the run (with file recycling, the put after an evict may overwrite the evicted file; the ' +
      `warm-up iteration leaves that steady state). ProxyStore is ${havePython ? 'ProxyStore' : 'not available (no .cache/bench-venv)'}'s \`Store\` on a \`FileConnector\` ` +
      '(bench/python/proxystore_breakdown.py). The **machine bound** rows are what the machine itself does with one object, ' +
      'in the same run: `Uint8Array.set` into a warm preallocated buffer and into a fresh `new Uint8Array(size)` ' +
      '(at 100 MiB a new mapping whose pages fault in on first touch; at 1 and 16 MiB the allocator here may hand back ' +
      'memory an earlier iteration freed, which faults nothing but is zeroed first), `writeSync` of the object into a new file and over that file again, ' +
      '`readSync` of it into a warm buffer that starts 16 bytes past a page boundary (a large `ArrayBuffer` as ' +
      "glibc's mmap hands it out) and one 64 bytes past one, and into a fresh buffer, then `unlink`.",
    '',
    `Each contender runs in ${rounds} child processes per size and directory, contenders alternating, each doing ` +
      `${warmup} untimed and ${iterations} timed iterations (median and min–max over the ${rounds * iterations}); garbage is ` +
      'collected before each phase, outside it. Columns:',
    '',
    "- **wall**: `process.hrtime.bigint()` / Python's `time.monotonic_ns()` around the phase.",
    '- **CPU user / sys**: deltas of `process.resourceUsage()` / `resource.getrusage(RUSAGE_SELF)` around the ' +
      "phase: the whole process, every thread (libuv's pool, V8's helpers). The kernel splits user and system time " +
      'by sampling, so the split of a phase of a few ms is rough; their sum is not.',
    trace
      ? `- **syscalls**: from one more child per contender (${countIterations} iteration${countIterations > 1 ? 's' : ''} after the warm-up, median) run ` +
        'under `strace -f -T`; the child brackets each phase with a write of a marker to /dev/null and every call ' +
        'whose completion falls between the markers counts. Waits (futex, epoll_pwait, poll, sleeps) are counted ' +
        "apart and not timed: they are idleness, not work. Times are strace's `-T`, inflated by tracing; the wall " +
        'and CPU columns come from the untraced runs. "Off the main thread" are calls of other threads: libuv\'s pool ' +
        "and V8's helpers (the mprotect/madvise of a concurrent collection)."
      : '- **syscalls**: strace not available (/usr/bin/strace missing).',
    "- **thread-pool trips**: in the same counting child, async_hooks `init` events of libuv's thread-pool request " +
      'types (FSREQCALLBACK, FSREQPROMISE, FILEHANDLECLOSEREQ, DNS and crypto requests): one per request handed ' +
      "to the pool. Synchronous fs calls make none; Python's ProxyStore makes none.",
    '- **copied user / kernel**: kernel is the sum of the results of the read/write/send/recv family of calls in the ' +
      'trace (bytes the kernel copied between user memory and page cache or socket). User, proxystream and bound: ' +
      'bytes copied by JavaScript through `TypedArray.prototype.set`/`slice`, `Buffer.prototype.copy`, `Buffer.concat`, ' +
      "`Buffer.from(view)` and `ArrayBuffer.prototype.slice`, counted by wrapping them in the counting child (copies inside Node's " +
      "own C++ are not seen). ProxyStore: tracemalloc's peak of new heap during the phase, less the bytes the " +
      'kernel read into it, in whole objects (its `serialize` copies the object into a `BytesIO`, `deserialize` ' +
      'copies it out again after the 3-byte header).',
    '- **minor page faults**: `minorPageFault` / `ru_minflt` deltas in the timed runs (major faults shown when any). ' +
      'A fresh buffer faults once per 4 KiB page it touches, and the kernel zeroes each page.',
    '',
    ...tables,
  ].join('\n');
  return { title, body, highlights };
}
