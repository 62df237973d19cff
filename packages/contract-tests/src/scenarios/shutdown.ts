import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import { activeHandleCount, within } from '../helpers.js';
import type { StreamModule } from '../stream-module.js';
import { readerOptions, scenarioTopic } from './topics.js';

/**
 * Waits (polling every 20 ms, at most `ms`) until the process's handle count is back to
 * `baseline`; returns the handles still open when it is not, else `undefined`.
 */
export async function handlesBackTo(baseline: number, ms = 10_000): Promise<string[] | undefined> {
  const deadline = Date.now() + ms;
  while (activeHandleCount() > baseline) {
    if (Date.now() > deadline) return process.getActiveResourcesInfo();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/** Options of the shutdown scenarios. */
export interface ShutdownScenarioOptions {
  descriptor: ShimDescriptor;
  /** Where the broker is. Default `process.env`. */
  env?: ShimEnvironment;
  stream: StreamModule;
  /** Longest a close may take, in ms. Default 15 000. */
  boundMs?: number;
}

/** What {@link closeDuringBurst} reports. */
export interface BurstCloseFigures {
  /** Sends that resolved. */
  resolved: number;
  /** Sends refused, by error code. */
  refusals: Record<string, number>;
  /** Objects the consumer read. */
  received: number;
  producerCloseMs: number;
  consumerCloseMs: number;
}

/**
 * Starts `burst` sends without awaiting them and closes the producer half-way through (then the
 * consumer reading the topic). Returns what happened to the sends and the close times.
 */
export async function closeDuringBurst(
  options: ShutdownScenarioOptions & { burst?: number },
): Promise<BurstCloseFigures> {
  const { descriptor, stream } = options;
  const env = options.env ?? process.env;
  const burst = options.burst ?? 2_000;
  const boundMs = options.boundMs ?? 15_000;
  await descriptor.prepare?.(env);
  const topic = scenarioTopic(`shutdown-${descriptor.name}`);
  const consumer = new stream.StreamConsumer(
    await descriptor.subscriber(env, topic, readerOptions(descriptor, topic)),
    // Gaps are not this case's subject: a fan-out shim may drop part of a burst.
    { topics: [topic], onGap: () => {} },
  );
  const reading = (async () => {
    let received = 0;
    for (;;) {
      const result = await consumer.nextObject().catch((error: unknown) => {
        // A fan-out shim that dropped part of the burst reports it; reading goes on.
        if ((error as { code?: unknown } | undefined)?.code === 'MESSAGES_LOST') return undefined;
        throw error;
      });
      if (result === undefined) continue;
      if (result.done === true) return received;
      received++;
    }
  })();
  const producer = new stream.StreamProducer(await descriptor.publisher(env), { batchSize: 4 });
  let resolved = 0;
  const refusals = new Map<string, number>();
  const sends: Promise<void>[] = [];
  let closing: Promise<void> | undefined;
  for (let i = 0; i < burst; i++) {
    sends.push(
      producer.send(topic, i).then(
        () => {
          resolved++;
        },
        (error: unknown) => {
          const code = String((error as { code?: unknown } | undefined)?.code ?? error);
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        },
      ),
    );
    // Close half-way through the burst, with the first half in flight.
    if (i === burst / 2) closing = producer.close({ topics: [topic] });
  }
  const started = performance.now();
  await within(closing!, boundMs, 'StreamProducer.close() during a burst');
  const producerCloseMs = Math.round(performance.now() - started);
  await within(Promise.all(sends), boundMs, 'the sends of the burst');
  const consumerStarted = performance.now();
  await within(consumer.close(), boundMs, 'StreamConsumer.close() while reading');
  const consumerCloseMs = Math.round(performance.now() - consumerStarted);
  const received = await within(reading, boundMs, 'the reading loop');
  await descriptor.cleanup?.(env, topic);
  return {
    resolved,
    refusals: Object.fromEntries(refusals),
    received,
    producerCloseMs,
    consumerCloseMs,
  };
}

/** Closes a consumer whose `next()` waits on a silent topic; returns that call's result. */
export async function closeDuringBlockedNext(
  options: ShutdownScenarioOptions,
): Promise<{ result: IteratorResult<unknown, unknown>; closeMs: number }> {
  const { descriptor, stream } = options;
  const env = options.env ?? process.env;
  const boundMs = options.boundMs ?? 15_000;
  await descriptor.prepare?.(env);
  const topic = scenarioTopic(`blocked-${descriptor.name}`);
  const consumer = new stream.StreamConsumer(
    await descriptor.subscriber(env, topic, readerOptions(descriptor, topic)),
    { topics: [topic] },
  );
  const pending = consumer.nextObject();
  // One turn of the event loop: the read is on its way to the broker.
  await new Promise((resolve) => setImmediate(resolve));
  const started = performance.now();
  await within(consumer.close(), boundMs, 'StreamConsumer.close() during a blocked next()');
  const result = await within(pending, boundMs, 'the blocked next()');
  const closeMs = Math.round(performance.now() - started);
  await descriptor.cleanup?.(env, topic);
  return { result, closeMs };
}
