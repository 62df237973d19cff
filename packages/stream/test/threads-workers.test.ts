import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { waitFor, within } from '@proxystream/contract-tests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  StreamConsumer,
  ThreadsBroker,
  type ThreadsBrokerHandle,
  ThreadsPublisher,
  ThreadsSubscriber,
} from '../src/index.js';
import { buildForWorkers } from './worker-build.js';

/** The objects of the stream: object `i` is `sizeOf(i)` bytes, `i` in the first four. */
const OBJECTS = 400;
const PATTERN = `
export const sizeOf = (i) => (i === 7 ? 1024 * 1024 : 4 + (i % 9) * 997);
export const objectOf = (i) => {
  const bytes = new Uint8Array(sizeOf(i));
  new DataView(bytes.buffer).setUint32(0, i, true);
  for (let j = 4; j < bytes.length; j++) bytes[j] = (i * 31 + j) & 0xff;
  return bytes;
};
export const check = (bytes) => {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 4) return -1;
  const i = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (bytes.byteLength !== sizeOf(i)) return -1;
  for (let j = 4; j < bytes.length; j++) if (bytes[j] !== ((i * 31 + j) & 0xff)) return -1;
  return i;
};
`;
let objectOf: (i: number) => Uint8Array;
let check: (bytes: unknown) => number;

let build: string;

beforeAll(async () => {
  build = await buildForWorkers();
  // The pattern is one module, imported by the workers and by this test.
  await writeFile(join(build, 'threads-pattern.mjs'), PATTERN);
  ({ objectOf, check } = await import(pathToFileURL(join(build, 'threads-pattern.mjs')).href));
  await writeFile(
    join(build, 'threads-producer.mjs'),
    `import { workerData, parentPort } from 'node:worker_threads';
import { StreamProducer, ThreadsPublisher } from './stream/index.js';
import { objectOf, check } from './threads-pattern.mjs';
const publisher = await ThreadsPublisher.create({ connection: workerData.broker });
const producer = new StreamProducer(publisher);
for (let i = 0; i < workerData.count; i++) await producer.send(workerData.topic, objectOf(i));
await producer.close({ topics: [workerData.topic] });
parentPort.postMessage({ sent: workerData.count });
`,
  );
  await writeFile(
    join(build, 'threads-consumer.mjs'),
    `import { workerData, parentPort } from 'node:worker_threads';
import { StreamConsumer, ThreadsSubscriber } from './stream/index.js';
import { objectOf, check } from './threads-pattern.mjs';
const subscriber = await ThreadsSubscriber.create(workerData.topic, { connection: workerData.broker, maxBufferedMessages: 16 });
const consumer = new StreamConsumer(subscriber, { topics: [workerData.topic] });
parentPort.postMessage({ ready: true });
const seen = [];
for (;;) {
  const result = await consumer.nextObject();
  if (result.done) break;
  seen.push(check(result.value));
}
await consumer.close();
parentPort.postMessage({ seen });
`,
  );
  await writeFile(
    join(build, 'threads-host.mjs'),
    `import { parentPort } from 'node:worker_threads';
import { ThreadsBroker } from './stream/index.js';
const broker = await ThreadsBroker.create();
const handle = broker.handle();
parentPort.postMessage({ broker: handle }, [handle.port]);
parentPort.on('message', () => {});
`,
  );
  await writeFile(
    join(build, 'threads-member.mjs'),
    `import { workerData, parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { ThreadsSubscriber } from './stream/index.js';
const subscriber = await ThreadsSubscriber.create(workerData.topic, { connection: workerData.broker, group: workerData.group });
parentPort.once('message', () => void subscriber.close());
parentPort.postMessage({ ready: true });
for await (const message of subscriber) {
  parentPort.postMessage({ label: new TextDecoder().decode(message), sha: createHash('sha256').update(message).digest('hex') });
}
parentPort.postMessage({ closed: true });
`,
  );
});

afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

/** A worker given its own handle of `broker`; `messages` collects what it posts. */
function start(script: string, broker: ThreadsBroker, data: Record<string, unknown>) {
  const handle = broker.handle();
  const worker = new Worker(join(build, script), {
    workerData: { ...data, broker: handle },
    transferList: [handle.port],
  });
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let failure: unknown;
  worker.on('message', (message: Record<string, unknown>) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  worker.on('error', (error) => {
    failure = error;
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  /** The first message (from now on or already received) that `test` accepts. */
  const message = (test: (m: Record<string, unknown>) => boolean, what: string) =>
    within(
      (async () => {
        for (;;) {
          if (failure !== undefined) throw failure;
          const found = messages.find(test);
          if (found !== undefined) return found;
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
      })(),
      30_000,
      what,
    );
  return { worker, messages, message, exited };
}

describe('worker-threads shim across worker_threads', () => {
  it('a StreamProducer in one worker reaches StreamConsumers in two other workers and in the main thread: every object verified, end of stream reached, every thread exits', async () => {
    await using broker = await ThreadsBroker.create();
    const topic = 'frames';
    const consumers = [0, 1].map(() => start('threads-consumer.mjs', broker, { topic }));
    const mainConsumer = new StreamConsumer(
      await ThreadsSubscriber.create(topic, { connection: broker, maxBufferedMessages: 8 }),
      { topics: [topic] },
    );
    await Promise.all(consumers.map((c) => c.message((m) => m.ready === true, 'consumer ready')));
    expect(broker.connections.subscribers).toBe(3);

    const producer = start('threads-producer.mjs', broker, { topic, count: OBJECTS });
    const seenHere: number[] = [];
    for (;;) {
      const result = await within(mainConsumer.nextObject(), 30_000, 'main-thread consumer');
      if (result.done) break;
      seenHere.push(check(result.value));
    }
    await mainConsumer.close();

    const every = Array.from({ length: OBJECTS }, (_, i) => i);
    expect(seenHere).toEqual(every);
    for (const consumer of consumers) {
      const { seen } = await consumer.message((m) => Array.isArray(m.seen), 'consumer summary');
      expect(seen).toEqual(every);
    }
    expect(await producer.message((m) => m.sent !== undefined, 'producer done')).toEqual({
      sent: OBJECTS,
    });
    // Nothing keeps a worker alive once its publisher and subscriber closed.
    const codes = await within(
      Promise.all([producer, ...consumers].map((w) => w.exited)),
      10_000,
      'workers exit',
    );
    expect(codes).toEqual([0, 0, 0]);
    // Subscribers leave with a handshake; a publisher's closed port reaches the broker a moment later.
    expect(broker.connections.subscribers).toBe(0);
    expect(await waitFor(() => broker.connections.publishers === 0, 5_000)).toBe(true);
  });

  it('the members of a group in two workers share the messages without duplicates while a main-thread subscriber gets them all', async () => {
    await using broker = await ThreadsBroker.create();
    const topic = 'work';
    const members = [0, 1].map(() =>
      start('threads-member.mjs', broker, { topic, group: 'workers' }),
    );
    await Promise.all(members.map((m) => m.message((x) => x.ready === true, 'member ready')));
    await using everything = await ThreadsSubscriber.create(topic, { connection: broker });
    await using publisher = await ThreadsPublisher.create({ connection: broker });
    const sent = Array.from({ length: 300 }, (_, i) => `job-${i}`);
    for (const label of sent) await publisher.send(topic, new TextEncoder().encode(label));

    const all: string[] = [];
    for await (const message of everything) {
      all.push(new TextDecoder().decode(message));
      if (all.length === sent.length) break;
    }
    expect(all).toEqual(sent);
    const labels = () =>
      members.flatMap((m) => m.messages.flatMap((x) => (x.label ? [x.label] : [])));
    await within(
      (async () => {
        while (labels().length < sent.length) await new Promise((r) => setTimeout(r, 10));
      })(),
      30_000,
      'the group receiving every message',
    );
    for (const member of members) member.worker.postMessage('stop');
    await within(Promise.all(members.map((m) => m.exited)), 10_000, 'members exit');
    expect([...labels()].sort()).toEqual([...sent].sort());
    for (const member of members) {
      // Round robin over members with room: each gets a share.
      expect(member.messages.filter((x) => x.label).length).toBeGreaterThan(0);
      expect(member.messages.at(-1)).toEqual({ closed: true });
    }
  });

  it('transfer: true moves the buffer to a subscriber in a worker (detached here, every byte there); the default copies', async () => {
    await using broker = await ThreadsBroker.create();
    const topic = 'moved';
    const member = start('threads-member.mjs', broker, { topic, group: 'one' });
    await member.message((x) => x.ready === true, 'member ready');
    await using moving = await ThreadsPublisher.create({ connection: broker, transfer: true });
    await using copying = await ThreadsPublisher.create({ connection: broker });

    const frame = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < frame.length; i += 1013) frame[i] = i & 0xff;
    frame.set(new TextEncoder().encode('moved-frame'));
    const sha = createHash('sha256').update(frame).digest('hex');
    await moving.send(topic, frame);
    expect(frame.byteLength).toBe(0);
    expect(frame.buffer.byteLength).toBe(0);
    const moved = await member.message((x) => x.sha !== undefined, 'moved frame');
    expect(moved.sha).toBe(sha);

    const kept = new TextEncoder().encode('copied-frame');
    await copying.send(topic, kept);
    expect(new TextDecoder().decode(kept)).toBe('copied-frame');
    // A view of part of a buffer cannot be moved alone: it is copied, the buffer stays.
    const whole = new TextEncoder().encode('xxpartial-framexx');
    const part = whole.subarray(2, 15);
    await moving.send(topic, part);
    expect(whole.byteLength).toBe(17);
    await member.message((x) => x.label === 'partial-frame', 'partial frame');
    expect(member.messages.some((x) => x.label === 'copied-frame')).toBe(true);

    member.worker.postMessage('stop');
    expect(await within(member.exited, 10_000, 'member exits')).toBe(0);
  });

  it('a subscriber whose broker closes yields what it received, then rejects with ClosedError', async () => {
    const broker = await ThreadsBroker.create();
    const subscriber = await ThreadsSubscriber.create('closing', { connection: broker });
    const publisher = await ThreadsPublisher.create({ connection: broker });
    await publisher.send('closing', objectOf(1));
    await publisher.close();
    await within(
      (async () => {
        while (broker.connections.publishers > 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      5_000,
      'publisher leaving',
    );
    await broker.close();
    const iterator = subscriber[Symbol.asyncIterator]();
    expect(check((await iterator.next()).value)).toBe(1);
    await expect(iterator.next()).rejects.toMatchObject({ code: 'CLOSED' });
    await subscriber.close();
    await expect(ThreadsPublisher.create({ connection: broker })).rejects.toMatchObject({
      code: 'CLOSED',
    });
  });

  it('a subscriber whose broker thread exits yields what it received, then rejects with BrokerError', async () => {
    const host = new Worker(join(build, 'threads-host.mjs'));
    const exited = new Promise((resolve) => host.once('exit', resolve));
    const { broker } = await within(
      new Promise<{ broker: ThreadsBrokerHandle }>((resolve) => host.once('message', resolve)),
      10_000,
      'broker handle',
    );
    const subscriber = await ThreadsSubscriber.create('host', { connection: broker });
    const publisher = await ThreadsPublisher.create({ connection: broker });
    await publisher.send('host', objectOf(3));
    const iterator = subscriber[Symbol.asyncIterator]();
    expect(check((await within(iterator.next(), 5_000, 'first message')).value)).toBe(3);
    await host.terminate();
    await exited;
    await expect(within(iterator.next(), 5_000, 'next after the exit')).rejects.toMatchObject({
      code: 'BROKER_ERROR',
    });
    await expect(publisher.send('host', objectOf(4))).rejects.toMatchObject({ code: 'CLOSED' });
    await within(Promise.all([subscriber.close(), publisher.close()]), 5_000, 'close');
  });
});
