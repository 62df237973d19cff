/**
 * Adaptive batching: the objects sent to a topic while its earlier batches keep the publisher
 * busy wait together in the topic's buffer and go out as one batch when the publisher has room.
 * This file holds the pieces the producer uses for it: the shared outcome of the waiting sends,
 * the size an object will probably take in the envelope, and the default bounds.
 */

/** Most objects of one adaptive batch, by default. */
export const DEFAULT_MAX_BATCH_OBJECTS = 512;

/**
 * Most estimated bytes of one adaptive batch, by default (less when the publisher declares a
 * lower limit): half of the smallest default message limit among the brokers (1 MiB: NATS, Kafka).
 */
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;

/** What an object bound for the store takes in the envelope: its key and the event around it. */
const STORED_OBJECT_BYTES = 96;

/** What the event around an inline object (its metadata, its flags) takes, as a rough figure. */
const EVENT_BYTES = 64;

/**
 * The outcome every send waiting in a topic's adaptive batch shares: settled when the batch they
 * end up in was accepted or refused.
 */
export class WaitingSends {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  /** Estimated envelope bytes of the objects waiting so far. */
  bytes = 0;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Settles the waiting sends with `run`'s outcome. */
  follow(run: Promise<void>): void {
    run.then(this.resolve, this.reject);
  }
}

/**
 * How many envelope bytes `object` will probably take: a byte array's or string's length (UTF-8
 * at worst three bytes per UTF-16 unit), else `unknown` (the largest object serialised so far);
 * the key alone for an object that goes to the store (`inlineBelow` or larger on a store topic).
 */
export function envelopeBytes(
  object: unknown,
  unknown: number,
  stored: boolean,
  inlineBelow: number,
): number {
  let size: number;
  if (ArrayBuffer.isView(object)) size = object.byteLength;
  else if (object instanceof ArrayBuffer) size = object.byteLength;
  else if (typeof object === 'string') size = object.length * 3;
  else size = unknown;
  if (stored && size >= inlineBelow) return STORED_OBJECT_BYTES;
  return size + EVENT_BYTES;
}

/**
 * The default byte bound of an adaptive batch for `publisher`: half the largest message it
 * declares (`maxMessageSize`, or `capabilities.maxMessageSize`; room for the envelope's own
 * bytes), at most {@link DEFAULT_MAX_BATCH_BYTES}.
 */
export function defaultMaxBatchBytes(publisher: object): number {
  const declared = publisher as {
    maxMessageSize?: unknown;
    capabilities?: { maxMessageSize?: unknown };
  };
  const limit = declared.maxMessageSize ?? declared.capabilities?.maxMessageSize;
  if (typeof limit !== 'number' || !(limit > 0)) return DEFAULT_MAX_BATCH_BYTES;
  return Math.max(1, Math.min(DEFAULT_MAX_BATCH_BYTES, Math.floor(limit / 2)));
}
