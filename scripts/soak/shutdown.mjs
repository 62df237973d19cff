// Shutdown checks shared by the shim packages' shutdown tests: close() of a StreamProducer during a
// burst of sends, and of a StreamConsumer during a blocked iteration, must return within a bound
// and leave no open handle behind.

import { uniqueTopic } from './shims.mjs';

/** Active handles other than timers (sockets, pipes, file handles…). */
export function activeHandleCount() {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind !== 'Timeout' && kind !== 'Immediate').length;
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (polling every 20 ms, at most `ms`) until the handle count is back to `baseline`. */
export async function handlesBackTo(baseline, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (activeHandleCount() > baseline) {
    if (Date.now() > deadline) return process.getActiveResourcesInfo();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/**
 * Starts `burst` sends without awaiting them, closes the producer (and the consumer reading the
 * topic) while they are in flight. Returns what happened to the sends and the close times.
 */
export async function closeDuringBurst({ shim, stream, burst = 2_000, boundMs = 15_000 }) {
  const { StreamProducer, StreamConsumer } = stream;
  await shim.prepare();
  const topic = uniqueTopic(`shutdown-${shim.name}`);
  const consumer = new StreamConsumer(
    await shim.subscriber(topic, { group: shim.persistent ? `g-${topic}` : undefined }),
    { topics: [topic], onGap: 'ignore' },
  );
  const reading = (async () => {
    let received = 0;
    for await (const _ of consumer) received++;
    return received;
  })();
  const producer = new StreamProducer(await shim.publisher(), { batchSize: 4 });
  let resolved = 0;
  const refusals = new Map();
  const sends = [];
  let closing;
  for (let i = 0; i < burst; i++) {
    sends.push(
      producer.send(topic, i).then(
        () => {
          resolved++;
        },
        (error) => {
          const code = error?.code ?? String(error);
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        },
      ),
    );
    // Close half-way through the burst, with the first half in flight.
    if (i === burst / 2) closing = producer.close({ topics: [topic] });
  }
  const started = performance.now();
  await within(closing, boundMs, 'StreamProducer.close() during a burst');
  const producerCloseMs = Math.round(performance.now() - started);
  await within(Promise.all(sends), boundMs, 'the sends of the burst');
  const consumerStarted = performance.now();
  await within(consumer.close(), boundMs, 'StreamConsumer.close() while reading');
  const consumerCloseMs = Math.round(performance.now() - consumerStarted);
  const received = await within(reading, boundMs, 'the reading loop');
  await shim.cleanup(topic);
  return {
    resolved,
    refusals: Object.fromEntries(refusals),
    received,
    producerCloseMs,
    consumerCloseMs,
  };
}

/** Closes a consumer whose `next()` waits on a silent topic; returns that `next()`'s result. */
export async function closeDuringBlockedNext({ shim, stream, boundMs = 15_000 }) {
  const { StreamConsumer } = stream;
  await shim.prepare();
  const topic = uniqueTopic(`blocked-${shim.name}`);
  const consumer = new StreamConsumer(
    await shim.subscriber(topic, { group: shim.persistent ? `g-${topic}` : undefined }),
    { topics: [topic] },
  );
  const pending = consumer.next();
  // One turn of the event loop: the read is on its way to the broker.
  await new Promise((resolve) => setImmediate(resolve));
  const started = performance.now();
  await within(consumer.close(), boundMs, 'StreamConsumer.close() during a blocked next()');
  const result = await within(pending, boundMs, 'the blocked next()');
  const closeMs = Math.round(performance.now() - started);
  await shim.cleanup(topic);
  return { result, closeMs };
}
