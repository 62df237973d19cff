import type { Metadata } from './events.js';

/**
 * Stable, machine-readable codes carried by every {@link ProxyStreamError}.
 * Codes never change once released; messages may be reworded.
 */
export type ErrorCode =
  | 'TOPIC_CLOSED'
  | 'MESSAGE_TOO_LARGE'
  | 'DECODE_FAILED'
  | 'INVALID_TOPIC'
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'ABORTED'
  | 'TIMEOUT'
  | 'INVALID_STORE_KEY'
  | 'OBJECT_NOT_FOUND'
  | 'STORE_NOT_ALLOWED'
  | 'STORE_FAILED'
  | 'STORE_FULL'
  | 'OBJECT_TOO_LARGE'
  | 'SEQUENCE_GAP'
  | 'MESSAGES_LOST'
  | 'BROKER_ERROR'
  | 'SEND_REFUSED'
  | 'CLOSE_INCOMPLETE'
  | 'STREAM_IDLE';

/** Options accepted by every error constructor: the underlying error, when there is one. */
export interface ProxyStreamErrorOptions {
  /** The error of the broker client, file system or codec that caused this one. */
  cause?: unknown;
}

/**
 * Base class of every error proxystream throws on purpose. Catch it with `instanceof` and branch
 * on {@link ProxyStreamError.code}, which is stable across releases.
 */
export class ProxyStreamError extends Error {
  /** Stable code naming the kind of failure. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ProxyStreamErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** `send` was called for a topic whose end of stream was already announced by this producer. */
export class TopicClosedError extends ProxyStreamError {
  /** The closed topic. */
  readonly topic: string;
  constructor(topic: string, options?: ProxyStreamErrorOptions) {
    super(
      'TOPIC_CLOSED',
      `topic "${topic}" was closed with closeTopics(); create a new producer to send to it again`,
      options,
    );
    this.topic = topic;
  }
}

/** A message is larger than the broker (or the shim's configuration) accepts. Nothing was sent. */
export class MessageTooLargeError extends ProxyStreamError {
  /** Size of the rejected message in bytes. */
  readonly size: number;
  /** Largest size accepted, in bytes. */
  readonly limit: number;
  constructor(size: number, limit: number, options?: ProxyStreamErrorOptions) {
    super(
      'MESSAGE_TOO_LARGE',
      `message of ${size} bytes exceeds the limit of ${limit} bytes; put large objects in a store`,
      options,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** Bytes received from a broker are not a valid message. The stream can skip it and go on. */
export class DecodeError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('DECODE_FAILED', message, options);
  }
}

/** A topic name the broker cannot carry safely. Nothing was sent or subscribed. */
export class InvalidTopicError extends ProxyStreamError {
  /** The rejected topic name. */
  readonly topic: string;
  constructor(topic: string, reason: string, options?: ProxyStreamErrorOptions) {
    super('INVALID_TOPIC', `invalid topic ${JSON.stringify(topic)}: ${reason}`, options);
    this.topic = topic;
  }
}

/** An option or argument is out of its documented range. */
export class InvalidArgumentError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** An operation was attempted on a publisher, subscriber, producer, consumer or store after `close()`. */
export class ClosedError extends ProxyStreamError {
  constructor(what: string, options?: ProxyStreamErrorOptions) {
    super('CLOSED', `${what} is closed`, options);
  }
}

/** An operation was cancelled through an `AbortSignal`. */
export class AbortedError extends ProxyStreamError {
  constructor(message = 'operation aborted', options?: ProxyStreamErrorOptions) {
    super('ABORTED', message, options);
  }
}

/** An operation did not complete within its time limit. */
export class TimeoutError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('TIMEOUT', message, options);
  }
}

/** Longest excerpt of a rejected key, escaped, that {@link storeKeyExcerpt} returns. */
export const STORE_KEY_EXCERPT_LENGTH = 64;

/** What {@link storeKeyExcerpt} returns. */
export interface StoreKeyExcerpt {
  /** The start of the key, JSON-escaped (without quotes), at most the length asked for. */
  text: string;
  /** The same start, unescaped. */
  key: string;
  /** Whether the key was longer than {@link StoreKeyExcerpt.key}. */
  cut: boolean;
  /** Length of the whole key, in UTF-16 code units. */
  length: number;
}

/**
 * The start of a rejected store key, fit for an error message or a log line: JSON-escaped, at most
 * `maxLength` characters once escaped (control characters count as their escapes), so that a
 * hostile key of megabytes is never repeated whole. `cut` says whether the key was longer.
 * {@link InvalidStoreKeyError} builds its message with it; stores need not call it themselves.
 *
 * @example
 * ```ts
 * const { text, cut, length } = storeKeyExcerpt('x'.repeat(10_000));
 * // text: 64 × 'x', cut: true, length: 10 000
 * ```
 */
export function storeKeyExcerpt(
  key: unknown,
  maxLength: number = STORE_KEY_EXCERPT_LENGTH,
): StoreKeyExcerpt {
  const whole = String(key);
  let text = '';
  let kept = 0;
  for (const character of whole) {
    const escaped = JSON.stringify(character).slice(1, -1);
    if (text.length + escaped.length > maxLength) break;
    text += escaped;
    kept += character.length;
  }
  return { text, key: whole.slice(0, kept), cut: kept < whole.length, length: whole.length };
}

/**
 * A store key is not one this store could have produced (e.g. it tries to escape a directory).
 * The message repeats only the start of the key ({@link storeKeyExcerpt}) and its length.
 */
export class InvalidStoreKeyError extends ProxyStreamError {
  /** The start of the rejected key: the whole key when it is short, else what the message shows. */
  readonly key: string;
  constructor(key: string, reason: string, options?: ProxyStreamErrorOptions) {
    const excerpt = storeKeyExcerpt(key);
    const shown = excerpt.cut
      ? `"${excerpt.text}…" (${excerpt.length} characters)`
      : `"${excerpt.text}"`;
    super('INVALID_STORE_KEY', `invalid store key ${shown}: ${reason}`, options);
    this.key = excerpt.key;
  }
}

/** The data behind a reference is gone: evicted, expired, or never stored. */
export class ObjectNotFoundError extends ProxyStreamError {
  /** The key that was looked up. */
  readonly key: string;
  constructor(key: string, options?: ProxyStreamErrorOptions) {
    super(
      'OBJECT_NOT_FOUND',
      `no object under key ${JSON.stringify(key)}: it was evicted (one-shot reference resolved elsewhere?) or expired`,
      options,
    );
    this.key = key;
  }
}

/** A store config from the wire names a store kind or host the consumer was not allowed to open. */
export class StoreNotAllowedError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('STORE_NOT_ALLOWED', message, options);
  }
}

/** A store operation failed (directory removed, server down, …). `cause` holds the client error. */
export class StoreError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('STORE_FAILED', message, options);
  }
}

/**
 * A bounded store had no room for an object within its time limit: every slot held an object not
 * yet evicted (or still read through a view). Nothing was stored. Consumers that resolve and evict
 * (or release their views) make room; a store that stays full means they stopped doing so.
 */
export class StoreFullError extends ProxyStreamError {
  /** How long the store waited for room, in ms (0: it could never fit, it did not wait). */
  readonly waitedMs: number;
  constructor(message: string, waitedMs: number, options?: ProxyStreamErrorOptions) {
    super('STORE_FULL', message, options);
    this.waitedMs = waitedMs;
  }
}

/**
 * An object is larger than the store can ever hold (e.g. larger than its largest slot). Nothing
 * was stored; waiting would not help. Use a store without that limit for such objects.
 */
export class ObjectTooLargeError extends ProxyStreamError {
  /** Size of the rejected object in bytes. */
  readonly size: number;
  /** Largest object the store holds, in bytes. */
  readonly limit: number;
  constructor(what: string, size: number, limit: number, options?: ProxyStreamErrorOptions) {
    super(
      'OBJECT_TOO_LARGE',
      `object of ${size} bytes exceeds the ${limit}-byte limit of ${what}; give it larger slots or use another store for such objects`,
      options,
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * The consumer saw a jump in a producer's sequence numbers: batches were lost (or arrived twice,
 * when {@link SequenceGapError.missing} is negative).
 */
export class SequenceGapError extends ProxyStreamError {
  /** Topic on which the gap was seen. */
  readonly topic: string;
  /** Producer whose sequence jumped. */
  readonly producerId: string;
  /** Sequence number expected next. */
  readonly expected: number;
  /** Sequence number received. */
  readonly received: number;
  constructor(
    topic: string,
    producerId: string,
    expected: number,
    received: number,
    options?: ProxyStreamErrorOptions,
  ) {
    const what =
      received > expected
        ? `${received - expected} batch(es) lost`
        : `duplicate or reordered batch ${received}`;
    super(
      'SEQUENCE_GAP',
      `topic "${topic}", producer ${producerId}: expected batch ${expected}, got ${received} (${what})`,
      options,
    );
    this.topic = topic;
    this.producerId = producerId;
    this.expected = expected;
    this.received = received;
  }

  /** Number of batches lost; zero or negative for a duplicate or reordered batch. */
  get missing(): number {
    return this.received - this.expected;
  }
}

/** A shim knows messages were lost (e.g. the broker dropped a slow subscriber's connection). */
export class MessagesLostError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('MESSAGES_LOST', message, options);
  }
}

/**
 * An object a producer did not get accepted by its publisher: what to send again, with the
 * options it was sent with.
 */
export interface UnsentObject<T = unknown> {
  /** Topic it was sent to. */
  readonly topic: string;
  /** The object, as given to `send` (before any aggregation). */
  readonly object: T;
  /** Its metadata. */
  readonly metadata: Metadata;
  /** Its one-shot flag. */
  readonly evict: boolean;
}

/** Lists `unsent` in a message: how many objects on which topics. */
function describeUnsent(unsent: readonly UnsentObject[]): string {
  const topics = [...new Set(unsent.map((entry) => entry.topic))];
  const shown = topics.slice(0, 3).map((topic) => `"${topic}"`);
  if (topics.length > 3) shown.push(`${topics.length - 3} more`);
  return `${unsent.length} object(s)${shown.length > 0 ? ` of ${shown.join(', ')}` : ''}`;
}

/**
 * The publisher refused a batch (the broker was down, the message too large, …): none of its
 * objects was delivered, including those whose `send` had already resolved while they waited in
 * the batch. {@link SendRefusedError.unsent} lists every one of them, in order, to send again;
 * `cause` is the publisher's error. The producer stays usable.
 */
export class SendRefusedError<T = unknown> extends ProxyStreamError {
  /** Every object of the refused batch(es), in the order they were sent. */
  readonly unsent: readonly UnsentObject<T>[];
  constructor(unsent: readonly UnsentObject<T>[], options?: ProxyStreamErrorOptions) {
    const reason =
      options?.cause instanceof Error ? `: ${options.cause.message}` : ' by the publisher';
    super(
      'SEND_REFUSED',
      `${describeUnsent(unsent)} not delivered, refused${reason}; send error.unsent again`,
      options,
    );
    this.unsent = unsent;
  }
}

/**
 * `close()` gave up waiting, after its time limit or because its signal was aborted: the broker
 * did not accept everything in time (a frozen or unreachable broker). The producer or consumer is
 * closed all the same (later calls are refused) and what could not be confirmed is listed:
 * {@link CloseIncompleteError.unsent} are objects whose batches were not accepted — some may still
 * arrive, the rest are lost — so a caller that resends them delivers each at least once.
 */
export class CloseIncompleteError<T = unknown> extends ProxyStreamError {
  /** Why close gave up. */
  readonly reason: 'timeout' | 'aborted';
  /** Objects not confirmed as accepted, in the order they were sent (empty for a consumer). */
  readonly unsent: readonly UnsentObject<T>[];
  constructor(
    what: string,
    reason: 'timeout' | 'aborted',
    unsent: readonly UnsentObject<T>[],
    options?: ProxyStreamErrorOptions & { timeoutMs?: number },
  ) {
    const why =
      reason === 'timeout' ? `within ${options?.timeoutMs ?? '?'} ms` : 'before its signal aborted';
    const left = unsent.length > 0 ? `; ${describeUnsent(unsent)} not confirmed` : '';
    super('CLOSE_INCOMPLETE', `${what} did not close ${why}${left}`, options);
    this.reason = reason;
    this.unsent = unsent;
  }
}

/**
 * A consumer received nothing for its `idleTimeoutMs`: the producer went silent, or its
 * end-of-stream was lost on a broker that does not redeliver. Iteration can go on (call `next()`
 * again to wait another period) or the caller closes the consumer.
 */
export class StreamIdleError extends ProxyStreamError {
  /** The idle time that passed, in ms. */
  readonly idleMs: number;
  constructor(idleMs: number, options?: ProxyStreamErrorOptions) {
    super(
      'STREAM_IDLE',
      `nothing received for ${idleMs} ms: the producer went silent or its end of stream was lost`,
      options,
    );
    this.idleMs = idleMs;
  }
}

/** The broker or its client reported an error not covered by a more specific class. */
export class BrokerError extends ProxyStreamError {
  constructor(message: string, options?: ProxyStreamErrorOptions) {
    super('BROKER_ERROR', message, options);
  }
}
