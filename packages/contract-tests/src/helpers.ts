import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TimeoutError } from '@proxystream/protocols';
import { withTimeout } from '@proxystream/protocols/kit';

let topicCounter = 0;

/** A topic name no other case uses: prefix, random part and a counter, dotted-free and wildcard-free. */
export function uniqueTopic(prefix = 'contract'): string {
  topicCounter += 1;
  return `${prefix}-${randomBytes(4).toString('hex')}-${topicCounter}`;
}

const iterators = new WeakMap<object, AsyncIterator<unknown>>();

/**
 * The one iterator of `source` that the helpers share, so that several `collect` calls read the
 * same subscription in turn (a `for await` with `break` would close it).
 */
export function iteratorOf<T>(source: AsyncIterable<T>): AsyncIterator<T> {
  let iterator = iterators.get(source) as AsyncIterator<T> | undefined;
  if (iterator === undefined) {
    iterator = source[Symbol.asyncIterator]();
    iterators.set(source, iterator);
  }
  return iterator;
}

/** Result of {@link nextWithin}: a value, the end of the iteration, or silence. */
export type NextOutcome<T> = { kind: 'value'; value: T } | { kind: 'done' } | { kind: 'timeout' };

/** The next item of `source`, its end, or `timeout` after `ms` of silence. */
export async function nextWithin<T>(source: AsyncIterable<T>, ms: number): Promise<NextOutcome<T>> {
  const iterator = iteratorOf(source);
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const result = await Promise.race([iterator.next(), silence]);
    if (result === 'timeout') return { kind: 'timeout' };
    return result.done ? { kind: 'done' } : { kind: 'value', value: result.value };
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link collect}. */
export interface CollectOptions {
  /** Longest silence between two items before giving up, in ms. Default 10 000. */
  inactivityMs?: number;
}

/**
 * Reads `count` items from `source`. The timeout is an inactivity timeout: it restarts at every
 * item, so a long but moving stream never times out.
 * @throws {@link TimeoutError} naming how many items arrived, when the stream goes silent.
 */
export async function collect<T>(
  source: AsyncIterable<T>,
  count: number,
  options: CollectOptions = {},
): Promise<T[]> {
  const ms = options.inactivityMs ?? 10_000;
  const received: T[] = [];
  while (received.length < count) {
    const outcome = await nextWithin(source, ms);
    if (outcome.kind === 'value') received.push(outcome.value);
    else if (outcome.kind === 'done') {
      throw new Error(`iteration ended after ${received.length} of ${count} items`);
    } else {
      throw new TimeoutError(
        `received ${received.length} of ${count} items, then nothing for ${ms} ms`,
      );
    }
  }
  return received;
}

/** Reads until `ms` of silence (or the end) and returns what arrived. */
export async function drain<T>(source: AsyncIterable<T>, ms: number): Promise<T[]> {
  const received: T[] = [];
  for (;;) {
    const outcome = await nextWithin(source, ms);
    if (outcome.kind !== 'value') return received;
    received.push(outcome.value);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a test message label as bytes. */
export function label(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes a message made by {@link label}. */
export function readLabel(message: Uint8Array): string {
  return decoder.decode(message);
}

/** The labels `${prefix}-0` … `${prefix}-${count - 1}`. */
export function labels(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/**
 * Checks that `received` holds every label of `expected` exactly once (any order); the error
 * names what is missing and what is extra or repeated.
 */
export function assertAllReceived(received: readonly string[], expected: readonly string[]): void {
  const missing = new Set(expected);
  const extra: string[] = [];
  for (const item of received) {
    if (!missing.delete(item)) extra.push(item);
  }
  if (missing.size > 0 || extra.length > 0) {
    const show = (items: Iterable<string>) => [...items].slice(0, 10).join(', ');
    throw new Error(
      `expected ${expected.length} distinct messages, got ${received.length}: ` +
        `${missing.size} missing (${show(missing)}), ${extra.length} unexpected or repeated (${show(extra)})`,
    );
  }
}

/** Checks that every label of `expected` appears in `received` (duplicates allowed, order ignored). */
export function assertNoneLost(received: readonly string[], expected: readonly string[]): void {
  const seen = new Set(received);
  const missing = expected.filter((item) => !seen.has(item));
  if (missing.length > 0) {
    throw new Error(
      `${missing.length} of ${expected.length} messages lost: ${missing.slice(0, 10).join(', ')}`,
    );
  }
}

/**
 * Runs `senders` concurrent loops; loop `s` sends its `perSender` messages one after another with
 * `send(s, i)`. Resolves when all loops finish.
 */
export async function parallelSenders(
  senders: number,
  perSender: number,
  send: (sender: number, index: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: senders }, async (_, sender) => {
      for (let index = 0; index < perSender; index++) await send(sender, index);
    }),
  );
}

/** Polls `condition` every 20 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * Resolves with `promise`'s outcome, or rejects with `TimeoutError` after `ms`: the kit's
 * `withTimeout`, under the name the cases read best with.
 */
export const within: <T>(promise: Promise<T>, ms: number, what: string) => Promise<T> = withTimeout;

/** Counts the process's active handles other than timers (sockets, pipes, file handles…). */
export function activeHandleCount(): number {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind !== 'Timeout' && kind !== 'Immediate').length;
}

let gc: (() => void) | undefined;

/**
 * Runs a full garbage collection, so that a memory reading counts live data only. Exposes V8's
 * `gc` on first use when the process was not started with `--expose-gc`.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
