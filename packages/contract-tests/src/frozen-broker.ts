import type { Publisher, Subscriber } from '@proxystream/protocols';
import { expect, it } from 'vitest';
import { label, uniqueTopic, within } from './helpers.js';
import type { freezeProcess } from './process-freeze.js';

/** The close options of the stream classes the case drives. */
interface BoundedClose {
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** The stream classes {@link frozenBrokerCase} drives (pass `import * as stream from '@proxystream/stream'`). */
export interface StreamClasses {
  StreamProducer: new (
    publisher: Publisher,
  ) => BoundedClose & { send(topic: string, object: Uint8Array): Promise<void> };
  StreamConsumer: new (
    subscriber: Subscriber,
  ) => BoundedClose & {
    next(): Promise<IteratorResult<unknown, unknown>>;
  };
}

/** Options of {@link frozenBrokerCase}. */
export interface FrozenBrokerCaseOptions {
  /** Shim name, used in the test names. */
  name: string;
  /** `@proxystream/stream`; this package does not depend on it. */
  stream: StreamClasses;
  /** A publisher of the shim, connected to the broker that {@link freeze} stops. */
  createPublisher(): Promise<Publisher>;
  /** A live subscriber of the shim on `topic`, on that broker. */
  createSubscriber(topic: string): Promise<Subscriber>;
  /**
   * Stops the broker process without closing its sockets (SIGSTOP), resolving once it is stopped:
   * use {@link freezeProcess}, which waits for every thread.
   */
  freeze(): Promise<void>;
  /** Lets it go on (SIGCONT). */
  thaw(): Promise<void>;
  /** The `timeoutMs` given to `close()`. Default 1 000. */
  closeTimeoutMs?: number;
  /** Slack allowed beyond `closeTimeoutMs` before the case counts a hang. Default 4 000. */
  slackMs?: number;
}

/** What a bounded close settled with: `undefined` when it resolved, else its error. */
async function settleClose(closing: Promise<void>, bound: number, what: string): Promise<unknown> {
  return within(
    closing.then(
      () => undefined,
      (error: unknown) => error ?? new Error('rejected without a reason'),
    ),
    bound,
    what,
  );
}

/**
 * Two cases on a broker that stops answering (its process frozen with SIGSTOP, sockets open):
 * `StreamProducer.close()` with sends pending and `StreamConsumer.close()` with a `next()`
 * pending both return within their `timeoutMs` (plus slack); the producer's `CloseIncompleteError`
 * names only objects sent after the freeze, in order, and a pending `next()` settles.
 */
export function frozenBrokerCase(options: FrozenBrokerCaseOptions): void {
  const timeoutMs = options.closeTimeoutMs ?? 1_000;
  const bound = timeoutMs + (options.slackMs ?? 4_000);
  const { StreamProducer, StreamConsumer } = options.stream;

  it(`${options.name}: producer close() against a frozen broker returns within its limit, naming what it could not confirm`, async () => {
    const topic = uniqueTopic('frozen-producer');
    const subscriber = await options.createSubscriber(topic);
    const producer = new StreamProducer(await options.createPublisher());
    await producer.send(topic, label('before'));
    await options.freeze();
    try {
      const sent = Array.from({ length: 5 }, (_, i) => label(`frozen-${i}`));
      for (const object of sent) producer.send(topic, object).catch(() => undefined);
      const started = Date.now();
      const error = await settleClose(producer.close({ timeoutMs }), bound, 'producer close');
      expect(Date.now() - started).toBeLessThan(bound);
      expect(error).toMatchObject({ code: 'CLOSE_INCOMPLETE', reason: 'timeout' });
      const unsent = (error as { unsent: { object: Uint8Array }[] }).unsent.map((u) => u.object);
      // A broker client may take a send into its buffer before the freeze shows: those count as
      // accepted. What is named is a suffix of what was sent after the freeze, in order.
      expect(sent.slice(sent.length - unsent.length)).toEqual(unsent);
    } finally {
      await options.thaw();
    }
    await subscriber.close();
  });

  it(`${options.name}: consumer close() against a frozen broker returns within its limit and ends a pending next()`, async () => {
    const topic = uniqueTopic('frozen-consumer');
    const consumer = new StreamConsumer(await options.createSubscriber(topic));
    const pending = consumer.next().catch((error: unknown) => error);
    await options.freeze();
    try {
      const started = Date.now();
      const error = await settleClose(consumer.close({ timeoutMs }), bound, 'consumer close');
      expect(Date.now() - started).toBeLessThan(bound);
      if (error !== undefined) expect(error).toMatchObject({ code: 'CLOSE_INCOMPLETE' });
      expect(await within(pending, bound, 'pending next() after close')).toMatchObject({
        done: true,
      });
    } finally {
      await options.thaw();
    }
  });
}
