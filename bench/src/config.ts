import { resolve } from 'node:path';
import type { ShimEnvironment } from '@proxystream/protocols/kit';

/** Sections in the order they run. */
export const SECTIONS = [
  'overhead',
  'latency',
  'bulk',
  'scaling',
  'memory',
  'anchor',
  'breakdown',
] as const;
export type Section = (typeof SECTIONS)[number];

/** Settings of one benchmark run, from the command line and the environment. */
export interface BenchConfig {
  readonly quick: boolean;
  readonly sections: readonly Section[];
  /** Transports of the overhead and latency sections to run (ids as in transports.ts); all when undefined. */
  readonly transports: readonly string[] | undefined;
  /**
   * Whether the overhead and latency sections add the cluster transports (the shims'
   * `clusterDescriptors`: Redis Cluster, NATS cluster, Kafka cluster): `true` with `--clusters`,
   * `false` with `--no-clusters`; `undefined` (neither flag): a full run adds them all, a
   * `--quick` run only those that `--transports` names.
   */
  readonly clusters: boolean | undefined;
  /** Alternating repetitions of every contender pair. */
  readonly repeats: number;
  /** Seconds one timed run aims at (message counts are calibrated to it). */
  readonly targetSeconds: number;
  /** Sends kept in flight by the sending loop of the throughput runs. */
  readonly window: number;
  /** Markdown file written at the end. */
  readonly out: string;
  /** Repository root. */
  readonly root: string;
  /** The command line as the user typed it (for the report). */
  readonly command: string;
  /** Where the shims' brokers are: what their descriptors read (`REDIS_URL`, `NATS_URL`, …). */
  readonly env: ShimEnvironment;
  /** The Redis server of the sections that drive Redis directly (bulk, scaling, memory, anchor). */
  readonly redisUrl: string;
  /** The NATS server of the sections that drive NATS directly (bulk). */
  readonly natsUrl: string;
  readonly kafkaBrokers: readonly string[];
}

const USAGE = `usage: node bench/dist/main.js [--quick] [--only overhead,latency,...] [--transports inproc,<shim descriptor names>,...] [--clusters | --no-clusters] [--repeats N] [--out FILE]
sections: ${SECTIONS.join(', ')}
--no-clusters leaves out the cluster transports (*-cluster) of overhead and latency; --quick leaves
them out too unless --transports names them or --clusters is given.`;

/** Parses `argv` (without node and script). */
export function parseConfig(argv: readonly string[], root: string): BenchConfig {
  let quick = false;
  let only: Section[] | undefined;
  let repeats: number | undefined;
  let transports: string[] | undefined;
  let clusters: boolean | undefined;
  let out = resolve(root, 'BENCHMARKS.md');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === '--quick') quick = true;
    else if (arg === '--only') {
      only = value()
        .split(',')
        .map((name) => {
          if (!(SECTIONS as readonly string[]).includes(name))
            throw new Error(`unknown section ${name}\n${USAGE}`);
          return name as Section;
        });
    } else if (arg === '--transports') transports = value().split(',');
    else if (arg === '--clusters') clusters = true;
    else if (arg === '--no-clusters') clusters = false;
    else if (arg === '--repeats') repeats = Number.parseInt(value(), 10);
    else if (arg === '--out') out = resolve(value());
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  const sections = only === undefined ? [...SECTIONS] : SECTIONS.filter((s) => only.includes(s));
  return {
    quick,
    sections,
    transports,
    clusters,
    repeats: repeats ?? (quick ? 3 : 5),
    targetSeconds: quick ? 0.15 : 0.3,
    window: 16,
    out,
    root,
    command: process.env.BENCH_COMMAND ?? `pnpm bench ${argv.join(' ')}`.trim(),
    env: process.env,
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    kafkaBrokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  };
}
