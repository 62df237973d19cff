import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store, StoreFactory } from '@proxystream/protocols';
import type { ShimDescriptor } from '@proxystream/protocols/kit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { restartCase } from './fault-suite.js';
import { activeHandleCount, uniqueTopic, within } from './helpers.js';
import type { RestartBroker } from './options.js';
import { closeDuringBlockedNext, closeDuringBurst, handlesBackTo } from './scenarios/shutdown.js';
import { readerOptions } from './scenarios/topics.js';
import { checkAdaptiveBatches } from './stream-adaptive.js';
import { checkMalformedMessages } from './stream-bad-input.js';
import { openFileStore, type StreamModule } from './stream-module.js';

/** Options of {@link streamContract}. */
export interface StreamContractOptions {
  /** `@proxystream/stream` (the sources in tests): `import * as stream from '@proxystream/stream'`. */
  stream: StreamModule;
  /** Where the broker is. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Restarts the descriptor's broker; when given, the broker-restart case runs. */
  restartBroker?: RestartBroker;
  /** Events of the broker-restart case. Default 10 000. */
  restartEvents?: number;
  /** Longest wait for the next object, in ms. Default 60 000. */
  inactivityMs?: number;
}

const MiB = 1024 * 1024;

/** Counts the objects a store receives, so a case can tell store-backed from inline. */
function counting(store: Store): { store: Store; puts: () => number } {
  let puts = 0;
  const proxy = new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      if (key === 'put' || key === 'putBatch') {
        return (...args: unknown[]) => {
          puts += key === 'put' ? 1 : (args[0] as readonly unknown[]).length;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: proxy, puts: () => puts };
}

const same = (a: unknown, b: Uint8Array) =>
  a instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/**
 * Registers the end-to-end contract of one shim as vitest suites: `StreamProducer` → shim →
 * `StreamConsumer` with objects inline and through a store (the descriptor's own store when it
 * has one, else a `FileStore` of the `stream` module), the default producer's adaptive batches
 * (order, end of stream, a lost batch reported as a gap), malformed messages published with the raw
 * client (one `DecodeError` each, nothing valid lost), bounded shutdown of producer and
 * consumer, and a broker restart when `restartBroker` is given. Call it at the top level of the
 * shim's contract test file.
 *
 * @example
 * ```ts
 * import { streamContract } from '@proxystream/contract-tests';
 * import { kafkaDescriptor } from '@proxystream/shim-kafka/testing';
 * import * as stream from '@proxystream/stream';
 *
 * streamContract(kafkaDescriptor, { stream });
 * ```
 */
export function streamContract(descriptor: ShimDescriptor, options: StreamContractOptions): void {
  const { stream } = options;
  const env = options.env ?? process.env;
  const inactivityMs = options.inactivityMs ?? 60_000;
  const caps = descriptor.capabilities;
  // The largest object sent inline: below the message limit once wrapped in an envelope.
  const inlineLarge = Math.min(16 * MiB, caps.maxMessageSize - 64 * 1024);
  const steps: Array<() => Promise<unknown>> = [];
  const later = (step: () => Promise<unknown>) => steps.push(step);

  const topicOf = (what: string) => {
    const topic = uniqueTopic(`${what}-${descriptor.name}`);
    if (descriptor.cleanup !== undefined) later(() => descriptor.cleanup!(env, topic));
    return topic;
  };
  const subscriberOf = (topic: string) =>
    descriptor.subscriber(env, topic, readerOptions(descriptor, topic));

  /** Sends `objects` through the shim and reads them back to the end of the stream. */
  const roundTrip = async (
    objects: readonly unknown[],
    stores: { producer: Store; consumer: StoreFactory } | undefined,
  ): Promise<unknown[]> => {
    const topic = topicOf('stream');
    const consumer = new stream.StreamConsumer(await subscriberOf(topic), {
      topics: [topic],
      ...(stores === undefined ? {} : { stores: [stores.consumer] }),
    });
    later(() => consumer.close({ stores: true }));
    const producer = new stream.StreamProducer(
      await descriptor.publisher(env),
      stores === undefined ? {} : { defaultStore: stores.producer },
    );
    later(() => producer.close());
    const received: unknown[] = [];
    const reading = (async () => {
      for (;;) {
        const result = await consumer.nextObject();
        if (result.done === true) return;
        received.push(result.value);
      }
    })();
    for (const [i, object] of objects.entries()) {
      await producer.send(topic, object, { metadata: { i } });
    }
    await producer.close({ topics: [topic] });
    await within(reading, inactivityMs, 'reading the stream').catch((error: unknown) => {
      throw new Error(`${received.length} of ${objects.length} objects read`, { cause: error });
    });
    return received;
  };

  const sample = (large: number) => {
    const objects: unknown[] = Array.from({ length: 20 }, (_, i) => ({
      index: i,
      text: `object ${i}`,
    }));
    const big = randomBytes(large);
    return { objects: [...objects, big], small: objects, big };
  };

  describe(`${descriptor.title}: stream contract`, () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    beforeAll(async () => {
      process.on('unhandledRejection', onRejection);
      await descriptor.prepare?.(env);
    });
    afterAll(() => {
      process.off('unhandledRejection', onRejection);
    });
    afterEach(async () => {
      await within(
        Promise.all(steps.splice(0).map((step) => step().catch(() => {}))),
        30_000,
        'cleanup',
      );
      expect(rejections.splice(0)).toEqual([]);
    });

    describe('end to end', () => {
      it(`objects travel inline, in order, to the end of the stream, the largest ${inlineLarge >= 16 * MiB ? '16 MiB' : 'just under the message limit'}`, async () => {
        const { objects, small, big } = sample(inlineLarge);
        const received = await roundTrip(objects, undefined);
        expect(received).toHaveLength(objects.length);
        expect(received.slice(0, small.length)).toEqual(small);
        expect(same(received[small.length], big)).toBe(true);
      });

      const storeKind = descriptor.store === undefined ? 'a file store' : 'the shim’s own store';
      it(`objects travel through ${storeKind}, including one of 16 MiB: only their keys cross the broker`, async () => {
        let store: Store;
        let factory: StoreFactory;
        if (descriptor.store !== undefined) {
          store = await descriptor.store.create(env);
          factory = descriptor.store.factory(env);
        } else {
          const directory = await mkdtemp(join(tmpdir(), `proxystream-${descriptor.name}-`));
          later(() => rm(directory, { recursive: true, force: true }));
          store = await openFileStore(stream, directory);
          factory = new stream.FileStoreFactory({ allowedRoots: [directory] });
        }
        later(() => store.close());
        const counted = counting(store);
        const { objects, small, big } = sample(16 * MiB);
        const received = await roundTrip(objects, { producer: counted.store, consumer: factory });
        expect(received).toHaveLength(objects.length);
        expect(received.slice(0, small.length)).toEqual(small);
        expect(same(received[small.length], big)).toBe(true);
        expect(counted.puts()).toBe(objects.length);
      });
    });

    describe('adaptive batches', () => {
      it('2 000 unawaited sends of the default producer go out in few messages, once, in order, to the end of the stream; a lost batch is one gap', async () => {
        const topic = topicOf('adaptive');
        await checkAdaptiveBatches({
          stream,
          topic,
          subscriber: await subscriberOf(topic),
          publisher: await descriptor.publisher(env),
          inactivityMs,
          later,
        });
      });
    });

    describe('bad input', () => {
      it('malformed messages published with the raw client cost one DecodeError each and the valid events around them arrive in order', async () => {
        await checkMalformedMessages({
          name: descriptor.name,
          openConsumer: async (topic) => {
            if (descriptor.cleanup !== undefined) later(() => descriptor.cleanup!(env, topic));
            return new stream.StreamConsumer(await subscriberOf(topic), { topics: [topic] });
          },
          publishRaw: (topic, message) => descriptor.publishRaw(env, topic, message),
          encode: (batch) => stream.encodeBatch(batch),
          poisonPayload: Uint8Array.of(
            ...stream.SERIALIZER_MARKER,
            stream.SERIALIZER_VERSION,
            0xee,
          ),
          inactivityMs: 10_000,
        });
      });
    });

    describe('shutdown', () => {
      const burst = 2_000;
      it('close() during a burst of sends flushes what was sent before and refuses the rest, leaving no handle open', async () => {
        const baseline = activeHandleCount();
        const figures = await closeDuringBurst({ descriptor, env, stream, burst });
        // Sends 0 … burst/2 came before close(): all accepted; the later ones are refused.
        expect(figures.resolved).toBe(burst / 2 + 1);
        expect(figures.refusals).toEqual({ CLOSED: burst / 2 - 1 });
        expect(await handlesBackTo(baseline)).toBeUndefined();
      });

      it('close() during a blocked iteration ends it, leaving no handle open', async () => {
        const baseline = activeHandleCount();
        const { result } = await closeDuringBlockedNext({ descriptor, env, stream });
        expect(result.done).toBe(true);
        expect(await handlesBackTo(baseline)).toBeUndefined();
      });
    });

    const restartBroker = options.restartBroker;
    if (restartBroker !== undefined && descriptor.broker !== undefined) {
      describe('broker faults', () => {
        restartCase(descriptor, {
          stream,
          restartBroker,
          env,
          events: options.restartEvents ?? 10_000,
          inactivityMs: 30_000,
          report: (figures) => console.info(JSON.stringify(figures)),
        });
      });
    }
  });
}
