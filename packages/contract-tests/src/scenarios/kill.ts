import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import type { StreamModule } from '../stream-module.js';
import { rawReader } from './raw-reader.js';
import { sendAll } from './send-all.js';
import { nextObjectWithin, type ObjectSource, Tally } from './tally.js';
import { scenarioTopic } from './topics.js';

/** The built modules the consumer process of {@link killScenario} loads, as file paths. */
export interface ChildModules {
  /** The shim package's `./testing` entry (`dist/testing.js`), which exports the descriptor. */
  testing: string;
  /** `@proxystream/stream`'s entry (`dist/index.js`). */
  stream: string;
}

/**
 * The built `./testing` entry of the descriptor's package and the built `@proxystream/stream`,
 * resolved from `from` (a file URL or path inside a package that depends on both, such as the
 * shim's own test file: `import.meta.url`), else from the current directory.
 * @throws when a package is not built (`pnpm build`) or cannot be resolved from there.
 */
export function resolveChildModules(descriptor: ShimDescriptor, from?: string | URL): ChildModules {
  const base =
    from === undefined
      ? join(process.cwd(), 'package.json')
      : from instanceof URL || from.startsWith('file:')
        ? fileURLToPath(from)
        : from;
  const require = createRequire(base);
  const resolve = (specifier: string) => {
    try {
      return require.resolve(specifier);
    } catch (error) {
      throw new Error(
        `the kill scenario's consumer process loads ${specifier} from the built packages: ` +
          `run pnpm build (resolving from ${base})`,
        { cause: error },
      );
    }
  };
  return {
    testing: resolve(`${descriptor.packageName}/testing`),
    stream: resolve('@proxystream/stream'),
  };
}

/** The consumer process's script: the built one, also when this module runs from its sources. */
function childScript(): string {
  const here = import.meta.url;
  const script = here.endsWith('.ts')
    ? fileURLToPath(new URL('../../dist/scenarios/consumer-child.js', here))
    : fileURLToPath(new URL('./consumer-child.js', here));
  if (!existsSync(script)) {
    throw new Error(`${script} is missing: build @proxystream/contract-tests first (pnpm build)`);
  }
  return script;
}

/** Options of {@link killScenario}. */
export interface KillScenarioOptions {
  descriptor: ShimDescriptor;
  /** Where the broker is (also given to the consumer process). Default `process.env`. */
  env?: ShimEnvironment;
  stream: StreamModule;
  /** What the consumer process loads; see {@link resolveChildModules}. */
  child: ChildModules;
  /** Objects sent before the consumers read. */
  events: number;
  /** Objects the first consumer moves past before it is killed. Default a quarter. */
  killAfter?: number;
  /** Who reads after the kill: the shim's subscriber itself, or a `StreamConsumer` over it. */
  second?: 'subscriber' | 'stream';
  /** Longest silence of the second consumer, in ms. Default 60 000. */
  inactivityMs?: number;
}

/** What {@link killScenario} reports. */
export interface KillFigures {
  scenario: 'consumer SIGKILL';
  shim: string;
  second: 'subscriber' | 'stream';
  events: number;
  /** Events the killed consumer had finished with. */
  childDone: number;
  /** Distinct events the second consumer received. */
  secondReceived: number;
  /** Events neither finished by the killed consumer nor received by the second one. */
  missing: number;
  /** Events received by both, or twice by the second. */
  duplicates: number;
  reordered: number;
  /** Gaps the second `StreamConsumer` reported. */
  gapsReported: number;
  /** `'done'` when the second consumer read everything, else `'timeout'`. */
  ended: 'done' | 'timeout';
  /** From the kill to the second consumer's first object, in ms. */
  recoveryMs: number | undefined;
}

/**
 * Kills a consumer process with SIGKILL in the middle of a stream, then lets a second consumer of
 * the same group (in this process) read on. The child reports `got <i>` when it receives an object
 * and `done <i>` when it moved past it; it is killed just after a `got`, while it holds an object.
 * Everything not `done` must reach the second consumer.
 */
export async function killScenario(options: KillScenarioOptions): Promise<KillFigures> {
  const { descriptor, stream, events } = options;
  const env = options.env ?? process.env;
  const killAfter = options.killAfter ?? Math.floor(events / 4);
  const second = options.second ?? 'subscriber';
  const inactivityMs = options.inactivityMs ?? 60_000;
  const script = childScript();
  await descriptor.prepare?.(env);
  const topic = scenarioTopic(`kill-${descriptor.name}`);
  const group = `g-${topic}`;
  // The group exists before anything is sent (Kafka and Streams groups start at the beginning).
  const first = await descriptor.subscriber(env, topic, { group });
  await first.close();
  const producer = new stream.StreamProducer(await descriptor.publisher(env));
  await sendAll({ producer, topic, events, batchSize: 1 });

  const child = fork(
    script,
    [options.child.testing, descriptor.name, options.child.stream, topic, group],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env: { ...env } },
  );
  const childDone = new Set<number>();
  let killedAt: number | undefined;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  for await (const line of createInterface({ input: child.stdout! })) {
    const [kind, value] = line.split(' ');
    if (kind === 'done') childDone.add(Number(value));
    if (kind === 'error') {
      child.kill('SIGKILL');
      throw new Error(`consumer child failed: ${line}`);
    }
    // Killed while it holds an object it has not moved past: that one must be delivered again.
    if (kind === 'got' && childDone.size >= killAfter && killedAt === undefined) {
      child.kill('SIGKILL');
      killedAt = performance.now();
    }
  }
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`consumer child ended by itself (signal ${signal})`);

  const tally = new Tally(events);
  let gaps = 0;
  const subscriber = await descriptor.subscriber(env, topic, { group, fastRedelivery: true });
  // 'subscriber': the second consumer reads the shim's messages and decodes them itself (what the
  // shim guarantees); 'stream': through a StreamConsumer (what an application sees).
  const source: ObjectSource =
    second === 'stream'
      ? new stream.StreamConsumer(subscriber, { topics: [topic], onGap: () => gaps++ })
      : rawReader(subscriber, stream);
  let recoveryMs: number | undefined;
  let ending: 'done' | 'timeout' = 'done';
  for (;;) {
    const result = await nextObjectWithin(source, inactivityMs);
    if (result === 'timeout') {
      ending = 'timeout';
      break;
    }
    if (result.done === true) break;
    recoveryMs ??= Math.round(performance.now() - killedAt!);
    if (result.value !== undefined) tally.add(result.value);
    // Everything the child left is here (the end-of-stream may come before redelivered objects).
    if (everyIndexSeen(tally, childDone, events)) break;
  }
  await source.close();
  await descriptor.cleanup?.(env, topic);
  let missing = 0;
  let overlap = 0;
  for (let i = 0; i < events; i++) {
    if (tally.counts[i] === 0 && !childDone.has(i)) missing++;
    if (tally.counts[i]! > 0 && childDone.has(i)) overlap++;
  }
  return {
    scenario: 'consumer SIGKILL',
    shim: descriptor.name,
    second,
    events,
    childDone: childDone.size,
    secondReceived: tally.distinct,
    missing,
    duplicates: overlap + tally.duplicates,
    reordered: tally.reordered,
    gapsReported: gaps,
    ended: ending,
    recoveryMs,
  };
}

function everyIndexSeen(tally: Tally, childDone: ReadonlySet<number>, events: number): boolean {
  if (tally.distinct + childDone.size < events) return false;
  for (let i = 0; i < events; i++) if (tally.counts[i] === 0 && !childDone.has(i)) return false;
  return true;
}
