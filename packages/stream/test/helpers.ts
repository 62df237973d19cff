import type { EventBatch, EventPublisher, Publisher, Store } from '@proxystream/protocols';
import { decodeBatch } from '../src/wire-codec.js';

let counter = 0;

/** A topic name no other test uses. */
export function topicName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(16).slice(2, 8)}`;
}

/** Rejects with a message naming `what` when `promise` takes longer than `ms` (a hang becomes a failure). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects an async iterable to its end, failing after `ms` of total time. */
export function drain<T>(source: AsyncIterable<T>, ms = 10_000): Promise<T[]> {
  return within(
    (async () => {
      const items: T[] = [];
      for await (const item of source) items.push(item);
      return items;
    })(),
    ms,
    'draining the stream',
  );
}

/** A byte publisher that records the batches it passes on. */
export interface RecordingPublisher extends Publisher {
  readonly batches: EventBatch[];
  closed: number;
}

/** Wraps `inner`, decoding and recording each message it forwards. */
export function recordingPublisher(inner: Publisher): RecordingPublisher {
  const batches: EventBatch[] = [];
  const spy: RecordingPublisher = {
    batches,
    closed: 0,
    async send(topic, message) {
      batches.push(decodeBatch(message));
      await inner.send(topic, message);
    },
    async close() {
      spy.closed++;
      await inner.close();
    },
    [Symbol.asyncDispose]: () => spy.close(),
  };
  return spy;
}

/** An event publisher that records the batches it passes on. */
export interface RecordingEventPublisher extends EventPublisher {
  readonly batches: EventBatch[];
}

/** Wraps `inner`, recording each batch it forwards. */
export function recordingEventPublisher(inner: EventPublisher): RecordingEventPublisher {
  const batches: EventBatch[] = [];
  return {
    batches,
    async sendEvents(batch) {
      batches.push(batch);
      await inner.sendEvents(batch);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

/** Counts the calls a store receives, passing them through. */
export interface CountingStore extends Store {
  readonly calls: { put: number; putBatch: number; get: number; evict: number; close: number };
}

export function countingStore(inner: Store): CountingStore {
  const calls = { put: 0, putBatch: 0, get: 0, evict: 0, close: 0 };
  return {
    calls,
    kind: inner.kind,
    put: (data, options) => {
      calls.put++;
      return inner.put(data, options);
    },
    putBatch: (data, options) => {
      calls.putBatch++;
      return inner.putBatch(data, options);
    },
    get: (key) => {
      calls.get++;
      return inner.get(key);
    },
    exists: (key) => inner.exists(key),
    evict: (key) => {
      calls.evict++;
      return inner.evict(key);
    },
    config: () => inner.config(),
    close: () => {
      calls.close++;
      return inner.close();
    },
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

/** A promise with its resolve and reject functions. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Whether `promise` has settled, checked after the pending I/O and microtasks have run. */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** A call of {@link gatedPublisher}'s `send`: its message, and the gate that settles it. */
export interface GatedCall {
  topic: string;
  message: Uint8Array;
  gate: ReturnType<typeof deferred<void>>;
}

/**
 * A publisher whose sends stay pending until the test opens (or fails) their gate; `nextCall(i)`
 * waits for the `i`-th call.
 */
export function gatedPublisher(): {
  publisher: Publisher & { closed: boolean };
  calls: GatedCall[];
  nextCall(index: number): Promise<GatedCall>;
} {
  const calls: GatedCall[] = [];
  const waiters: (() => void)[] = [];
  const publisher: Publisher & { closed: boolean } = {
    closed: false,
    send(topic, message) {
      const gate = deferred<void>();
      calls.push({ topic, message, gate });
      for (const wake of waiters.splice(0)) wake();
      return gate.promise;
    },
    async close() {
      publisher.closed = true;
    },
    [Symbol.asyncDispose]: () => publisher.close(),
  };
  const nextCall = async (index: number) => {
    while (calls.length <= index) await new Promise<void>((resolve) => waiters.push(resolve));
    return calls[index]!;
  };
  return { publisher, calls, nextCall };
}
