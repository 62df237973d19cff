import type { ContractProducer } from '../stream-module.js';
import { pause } from './tally.js';

/** Options of {@link sendAll}. */
export interface SendAllOptions {
  producer: ContractProducer;
  topic: string;
  /** Objects to send: the indexes 0 … events - 1. */
  events: number;
  /** Objects per batch of the producer. */
  batchSize: number;
  /** Awaited before each batch, with the index of its first object. */
  throttle?: (next: number) => Promise<void>;
  /** Progress: the index of the next object to send. */
  onSent?: (next: number) => void;
  /** Refused sends tolerated before giving up. Default 200. */
  maxRetries?: number;
  /** The producer's `maxBatchesInFlight`. Default 1. */
  batchesInFlight?: number;
}

/**
 * Sends `events` objects (their indexes) one `send` after the other, so a batch the publisher
 * refuses can be sent again in order: a refused `send` loses its whole batch (the objects
 * buffered since the last accepted batch), which is re-sent from its first object. Ends the
 * topic and closes the producer. Returns the refusals retried.
 */
export async function sendAll(options: SendAllOptions): Promise<number> {
  const { producer, topic, events, batchSize, throttle, onSent } = options;
  const maxRetries = options.maxRetries ?? 200;
  if ((options.batchesInFlight ?? 1) > 1) {
    const refused = await sendPipelined(options, maxRetries);
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
async function closeTopic(
  producer: ContractProducer,
  topic: string,
  maxRetries: number,
): Promise<number> {
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
async function sendPipelined(options: SendAllOptions, maxRetries: number): Promise<number> {
  const { producer, topic, events, batchSize, throttle, onSent } = options;
  const batchesInFlight = options.batchesInFlight ?? 1;
  let retries = 0;
  let failure: unknown;
  const again: unknown[] = [];
  const outstanding = new Set<Promise<void>>();
  const track = (promise: Promise<void>) => {
    const tracked: Promise<void> = promise
      .catch((error: unknown) => {
        const unsent = (error as { unsent?: unknown } | undefined)?.unsent;
        if (!Array.isArray(unsent)) failure ??= error;
        else {
          retries++;
          for (const { object } of unsent as { object: unknown }[]) again.push(object);
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
