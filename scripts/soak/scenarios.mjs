// The reliability scenarios, written once and run two ways: by `node scripts/soak/run.mjs` on the
// built packages (full sizes, figures for docs/reliability.md) and by the shim packages' vitest
// suites on the sources (reduced sizes). Every object sent is its index, so the consumer side can
// count what was lost, repeated or reordered. Each wait is for a condition, bounded by an
// inactivity timeout that restarts whenever something arrives.

import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { uniqueTopic } from './shims.mjs';

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `consumer.next()`, or `{ timeout: true }` after `ms` without a result. */
async function nextWithin(consumer, ms) {
  let timer;
  const silence = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ timeout: true }), ms);
  });
  try {
    return await Promise.race([consumer.next(), silence]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tally of what a consumer received, by index. */
class Tally {
  constructor(events) {
    this.events = events;
    this.counts = new Uint8Array(events);
    this.distinct = 0;
    this.duplicates = 0;
    this.reordered = 0;
    this.highest = -1;
  }

  add(index) {
    if (!Number.isInteger(index) || index < 0 || index >= this.events) {
      throw new Error(`received an object that was never sent: ${String(index)}`);
    }
    if (this.counts[index] > 0) this.duplicates++;
    else {
      this.distinct++;
      if (index < this.highest) this.reordered++;
    }
    if (this.counts[index] < 255) this.counts[index]++;
    if (index > this.highest) this.highest = index;
  }
}

/** Samples the process's RSS every `everyMs` until stopped. */
function rssSampler(everyMs = 500) {
  const samples = [];
  const heaps = [];
  const take = () => {
    const usage = process.memoryUsage();
    samples.push(usage.rss);
    heaps.push(usage.heapUsed);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
      const quarter = Math.max(1, Math.floor(samples.length / 4));
      const early = samples.slice(quarter, 2 * quarter);
      const late = samples.slice(-quarter);
      return {
        samples: samples.length,
        startMiB: mib(samples[0]),
        maxMiB: mib(Math.max(...samples)),
        endMiB: mib(samples[samples.length - 1]),
        // Flatness: the peak of the second quarter against the peak of the last quarter.
        secondQuarterPeakMiB: mib(Math.max(...early)),
        lastQuarterPeakMiB: mib(Math.max(...late)),
        heapSecondQuarterPeakMiB: mib(Math.max(...heaps.slice(quarter, 2 * quarter))),
        heapLastQuarterPeakMiB: mib(Math.max(...heaps.slice(-quarter))),
      };
    },
  };
}

/**
 * Sends `events` objects (their indexes) one `send` after the other, so a batch the publisher
 * refuses can be sent again in order: a refused `send` loses its whole batch (the objects
 * buffered since the last accepted batch), which is re-sent from its first object.
 * `throttle()` is awaited before each batch; `onSent(next)` reports progress.
 */
async function sendAll({
  producer,
  topic,
  events,
  batchSize,
  throttle,
  onSent,
  maxRetries = 200,
  batchesInFlight = 1,
}) {
  if (batchesInFlight > 1) {
    const refused = await sendPipelined({
      producer,
      topic,
      events,
      batchSize,
      throttle,
      onSent,
      maxRetries,
      batchesInFlight,
    });
    return refused + (await closeTopic(producer, topic, maxRetries));
  }
  let retries = 0;
  let batchStart = 0;
  let i = 0;
  while (i < events) {
    if (i === batchStart && throttle !== undefined) await throttle(i);
    try {
      await producer.send(topic, i);
      i++;
      if (i % batchSize === 0) batchStart = i;
      onSent?.(i);
    } catch (error) {
      retries++;
      if (retries > maxRetries) throw error;
      i = batchStart;
      await pause(100);
    }
  }
  return retries + (await closeTopic(producer, topic, maxRetries));
}

/** Closes the producer with an end-of-stream on `topic`, retried; returns the retries. */
async function closeTopic(producer, topic, maxRetries) {
  let retries = 0;
  for (;;) {
    try {
      await producer.close({ topics: [topic] });
      return retries;
    } catch (error) {
      retries++;
      if (retries > maxRetries) throw error;
      await pause(100);
    }
  }
}

/**
 * {@link sendAll} for a producer with `maxBatchesInFlight` > 1: sends are not awaited one by one
 * but kept at most `batchesInFlight` unsettled, so that many batches really are in flight. A
 * refused batch (its `SendRefusedError` lists its objects) is sent again after the others.
 */
async function sendPipelined({
  producer,
  topic,
  events,
  batchSize,
  throttle,
  onSent,
  maxRetries,
  batchesInFlight,
}) {
  let retries = 0;
  let failure;
  const again = [];
  const outstanding = new Set();
  const track = (promise) => {
    const tracked = promise
      .catch((error) => {
        if (!Array.isArray(error?.unsent)) failure ??= error;
        else {
          retries++;
          for (const { object } of error.unsent) again.push(object);
        }
      })
      .finally(() => outstanding.delete(tracked));
    outstanding.add(tracked);
  };
  let i = 0;
  let count = 0;
  while (i < events || again.length > 0 || outstanding.size > 0) {
    if (failure !== undefined) throw failure;
    if (retries > maxRetries) throw new Error(`more than ${maxRetries} batches refused`);
    if (i >= events && again.length === 0) {
      await Promise.race(outstanding);
      continue;
    }
    if (count % batchSize === 0) {
      if (throttle !== undefined) await throttle(i);
      while (outstanding.size >= batchesInFlight) await Promise.race(outstanding);
    }
    const object = again.length > 0 ? again.shift() : i++;
    count++;
    track(producer.send(topic, object));
    onSent?.(i);
  }
  if (failure !== undefined) throw failure;
  return retries;
}

/**
 * Restarts the broker in the middle of a stream of `events` objects: StreamProducer → shim →
 * StreamConsumer. Persistent shims must lose nothing; fan-out shims must report every loss as a
 * sequence gap (or a `MessagesLostError` from the subscriber followed by a gap).
 *
 * @returns figures: `lost` (never received), `duplicates` (received twice), `reordered`,
 * `missingReported` (events the consumer's gap detection reported missing), `unreported`
 * (lost and not reported), `lossErrors` (MessagesLostError thrown by the subscriber),
 * `restartMs` (stop + start of the broker), `recoveryMs` (from the broker answering again to the
 * arrival of the first object sent after that).
 */
export async function restartScenario({
  shim,
  stream,
  restart,
  events,
  batchSize = 1,
  producerOptions = {},
  restartAt = Math.floor(events / 3),
  resumeAt = Math.floor((2 * events) / 3),
  inactivityMs = 60_000,
}) {
  const { StreamProducer, StreamConsumer } = stream;
  await shim.prepare();
  const topic = uniqueTopic(`faults-${shim.name}`);
  const group = shim.persistent ? `g-${topic}` : undefined;
  const tally = new Tally(events);
  let missingReported = 0;
  let duplicatesSkipped = 0;
  let lossErrors = 0;
  const otherErrors = [];
  const consumer = new StreamConsumer(await shim.subscriber(topic, { group }), {
    topics: [topic],
    onGap: (gap) => {
      if (gap.received > gap.expected) missingReported += (gap.received - gap.expected) * batchSize;
      else duplicatesSkipped++;
    },
  });
  const producer = new StreamProducer(await shim.publisher(), { ...producerOptions, batchSize });
  const started = performance.now();
  let sent = 0;
  let restartMs;
  let upAt;
  let markIndex = Number.POSITIVE_INFINITY;
  let recoveryMs;
  let firstAfterUpMs;
  let restarting;
  let progress = () => {};

  const startRestart = () => {
    const down = performance.now();
    restarting = restart().then(() => {
      upAt = performance.now();
      restartMs = Math.round(upAt - down);
      markIndex = sent;
    });
  };
  // The restart starts once a third is sent; the sender goes on during it (those sends wait in
  // the clients or fail and are retried) and holds at two thirds until the broker is back, so the
  // last third is sent to a restarted broker. Fan-out shims drop what a slow reader cannot hold:
  // the sender keeps at most a window ahead of the reader so that the only losses are the
  // restart's; lost objects never arrive, so after 200 ms without progress it goes on.
  const window = 2_000;
  const throttle = async (next) => {
    if (restarting === undefined && next >= restartAt) startRestart();
    if (next >= resumeAt && restarting !== undefined) await restarting;
    if (shim.persistent) return;
    while (next - (tally.distinct + missingReported) > window) {
      const moved = new Promise((resolve) => {
        progress = resolve;
      });
      if ((await Promise.race([moved, pause(200).then(() => 'idle')])) === 'idle') return;
    }
  };

  const reader = (async () => {
    for (;;) {
      let result;
      try {
        result = await nextWithin(consumer, inactivityMs);
      } catch (error) {
        if (error?.code === 'MESSAGES_LOST') {
          lossErrors++;
          continue;
        }
        otherErrors.push(error);
        if (otherErrors.length > 100) throw error;
        await pause(50);
        continue;
      }
      if (result.timeout) return 'timeout';
      if (result.done) return 'done';
      const index = result.value;
      tally.add(index);
      progress();
      if (firstAfterUpMs === undefined && upAt !== undefined) {
        firstAfterUpMs = Math.round(performance.now() - upAt);
      }
      if (recoveryMs === undefined && index >= markIndex) {
        recoveryMs = Math.round(performance.now() - upAt);
      }
    }
  })();

  const retries = await sendAll({
    producer,
    topic,
    events,
    batchSize,
    throttle,
    batchesInFlight: producerOptions.maxBatchesInFlight ?? 1,
    onSent: (next) => {
      sent = next;
    },
  });
  const ending = await reader;
  await restarting;
  await consumer.close();
  // What the broker kept, read again from the start by a new group (not for the list queue,
  // whose reads consume, nor for fan-out shims, which keep nothing).
  const stored =
    shim.persistent && shim.name !== 'redis-list'
      ? await reread(shim, topic, stream, events, inactivityMs)
      : undefined;
  await shim.cleanup(topic);
  const lost = events - tally.distinct;
  return {
    scenario: 'broker restart',
    shim: shim.name,
    topic,
    events,
    batchSize,
    batchesInFlight: producerOptions.maxBatchesInFlight ?? 1,
    received: tally.distinct,
    lost,
    duplicates: tally.duplicates,
    duplicatesSkipped,
    reordered: tally.reordered,
    missingReported,
    unreported: lost - missingReported,
    lossErrors,
    otherErrors: otherErrors.map(String).slice(0, 5),
    sendRetries: retries,
    ended: ending,
    stored,
    restartMs,
    recoveryMs,
    firstAfterUpMs,
    markIndex,
    durationMs: Math.round(performance.now() - started),
  };
}

const childScript = fileURLToPath(new URL('./consumer-child.mjs', import.meta.url));

/**
 * Kills a consumer process with SIGKILL in the middle of a stream, then lets a second consumer of
 * the same group (in this process) read on. The child reports `got <i>` when it receives an object
 * and `done <i>` when it moved past it (it asks for the next one right after); it is killed just
 * after a `got`, while it holds an object. Everything not `done` must reach the second consumer.
 *
 * @returns figures: `childDone` (objects the child moved past), `missing` (neither moved past by
 * the child nor received by the second consumer: must be 0), `duplicates` (received by both, or
 * twice by the second), `recoveryMs` (from the kill to the second consumer's first object).
 */
export async function killScenario({
  shim,
  shimModule,
  stream,
  events,
  killAfter = Math.floor(events / 4),
  second = 'subscriber',
  inactivityMs = 60_000,
}) {
  const { StreamProducer, StreamConsumer } = stream;
  await shim.prepare();
  const topic = uniqueTopic(`kill-${shim.name}`);
  const group = `g-${topic}`;
  // The group exists before anything is sent (Kafka and Streams groups start at the beginning).
  const first = await shim.subscriber(topic, { group });
  await first.close();
  const producer = new StreamProducer(await shim.publisher());
  await sendAll({ producer, topic, events, batchSize: 1 });

  const child = fork(childScript, [shimModule, shim.name, topic, group], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const childDone = new Set();
  let killedAt;
  const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const [kind, value] = line.split(' ');
    if (kind === 'done') childDone.add(Number(value));
    if (kind === 'error') throw new Error(`consumer child failed: ${line}`);
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
  const subscriber = await shim.subscriber(topic, { group, fast: true });
  // 'subscriber': the second consumer reads the shim's messages and decodes them itself (what the
  // shim guarantees); 'stream': through a StreamConsumer (what an application sees).
  const source =
    second === 'stream'
      ? new StreamConsumer(subscriber, { topics: [topic], onGap: () => gaps++ })
      : rawReader(subscriber, stream);
  let recoveryMs;
  let ending = 'done';
  for (;;) {
    const result = await nextWithin(source, inactivityMs);
    if (result.timeout) {
      ending = 'timeout';
      break;
    }
    if (result.done) break;
    recoveryMs ??= Math.round(performance.now() - killedAt);
    if (result.value !== undefined) tally.add(result.value);
    // Everything the child left is here (the end-of-stream may come before redelivered objects).
    if (everyIndexSeen(tally, childDone, events)) break;
  }
  await source.close();
  await shim.cleanup(topic);
  let missing = 0;
  let overlap = 0;
  for (let i = 0; i < events; i++) {
    if (tally.counts[i] === 0 && !childDone.has(i)) missing++;
    if (tally.counts[i] > 0 && childDone.has(i)) overlap++;
  }
  return {
    scenario: 'consumer SIGKILL',
    shim: shim.name,
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

/**
 * Reads a shim subscriber as a `next()`/`close()` source of indexes: each message is decoded with
 * the wire codec; end-of-stream and empty batches yield `undefined`.
 */
function rawReader(subscriber, { decodeBatch, defaultSerializer }) {
  const iterator = subscriber[Symbol.asyncIterator]();
  const ready = [];
  return {
    async next() {
      while (ready.length === 0) {
        const result = await iterator.next();
        if (result.done) return result;
        const batch = decodeBatch(result.value);
        for (const event of batch.events) {
          if (event.type === 'new-object')
            ready.push(defaultSerializer.deserialize(event.body.data));
        }
        if (ready.length === 0) return { done: false, value: undefined };
      }
      return { done: false, value: ready.shift() };
    },
    close: () => subscriber.close(),
  };
}

/** Reads `topic` from its start in a new group: how many objects the broker kept, in what order. */
async function reread(shim, topic, stream, events, inactivityMs) {
  const tally = new Tally(events);
  const source = rawReader(await shim.subscriber(topic, { group: `reread-${topic}` }), stream);
  while (tally.distinct < events) {
    const result = await nextWithin(source, inactivityMs);
    if (result.timeout || result.done) break;
    if (result.value !== undefined) tally.add(result.value);
  }
  await source.close();
  return {
    kept: tally.distinct,
    missing: events - tally.distinct,
    duplicates: tally.duplicates,
    reordered: tally.reordered,
  };
}

function everyIndexSeen(tally, childDone, events) {
  if (tally.distinct + childDone.size < events) return false;
  for (let i = 0; i < events; i++) if (tally.counts[i] === 0 && !childDone.has(i)) return false;
  return true;
}

/**
 * Sends `events` objects through a persistent shim while one consumer reads them, and checks
 * count and order; samples RSS (producer and consumer share this process) throughout.
 */
export async function loadScenario({
  shim,
  stream,
  events,
  batchSize = 100,
  inactivityMs = 60_000,
}) {
  const { StreamProducer, StreamConsumer } = stream;
  await shim.prepare();
  const topic = uniqueTopic(`load-${shim.name}`);
  const tally = new Tally(events);
  const consumer = new StreamConsumer(await shim.subscriber(topic, { group: `g-${topic}` }), {
    topics: [topic],
  });
  const producer = new StreamProducer(await shim.publisher(), { batchSize });
  const rss = rssSampler();
  const started = performance.now();
  let readerEnded = false;
  const reader = (async () => {
    try {
      for (;;) {
        const result = await nextWithin(consumer, inactivityMs);
        if (result.timeout) return 'timeout';
        if (result.done) return 'done';
        tally.add(result.value);
      }
    } finally {
      readerEnded = true;
    }
  })();
  // A bounded lead over the reader, so the run measures a steady stream, not a backlog.
  const lead = 50 * batchSize;
  let progressWaits = 0;
  const retries = await sendAll({
    producer,
    topic,
    events,
    batchSize,
    throttle: async (next) => {
      while (next - tally.distinct - tally.duplicates > lead && !readerEnded) {
        progressWaits++;
        await pause(1);
      }
    },
  });
  const ending = await reader;
  const seconds = (performance.now() - started) / 1000;
  const memory = rss.stop();
  await consumer.close();
  await shim.cleanup(topic);
  return {
    scenario: 'load',
    shim: shim.name,
    events,
    batchSize,
    received: tally.distinct,
    lost: events - tally.distinct,
    duplicates: tally.duplicates,
    reordered: tally.reordered,
    sendRetries: retries,
    ended: ending,
    eventsPerSecond: Math.round(events / seconds),
    durationMs: Math.round(seconds * 1000),
    rss: memory,
    progressWaits,
  };
}
