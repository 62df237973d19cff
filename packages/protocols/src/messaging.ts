import type { EventBatch } from './events.js';

/** Options of {@link Publisher.send}. */
export interface PublishOptions {
  /**
   * The caller hands `message` over: it will neither read nor write it again, so a shim that
   * would copy it (a client that writes it on a later tick, an in-process queue) keeps it
   * instead. Default `false`: the caller may reuse its buffer as soon as `send` returned.
   * `StreamProducer` hands over every envelope it encodes.
   */
  readonly owned?: boolean;
}

/**
 * Sends opaque byte messages to topics of one broker.
 *
 * `send` resolves once the broker (or the shim's bounded in-flight window) has accepted the
 * message, so awaiting it gives backpressure. The caller may reuse or mutate `message` as soon as
 * `send` returns its promise (shims copy or write it out before returning), unless it handed the
 * message over with `{ owned: true }`.
 */
export interface Publisher extends AsyncDisposable {
  /** What the shim tells traces and metrics about its broker (see {@link MessagingAttributes}). */
  readonly messaging?: MessagingAttributes;
  /**
   * Sends one message to `topic`.
   * @throws {@link InvalidTopicError} when the broker cannot carry this topic name.
   * @throws {@link MessageTooLargeError} when the message exceeds the shim's maximum size.
   * @throws {@link ClosedError} after {@link Publisher.close}.
   */
  send(topic: string, message: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Waits for every accepted message to reach the broker, then releases what the shim opened. Safe to call twice. */
  close(): Promise<void>;
  /** Calls {@link Publisher.close}: `await using publisher = await X.create()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Yields the byte messages of the topics it was created for, in arrival order, until closed.
 *
 * A subscriber is ready when the promise that created it resolves: a message sent after that is
 * received. Breaking out of `for await` releases the subscription like {@link Subscriber.close}.
 */
export interface Subscriber extends AsyncIterable<Uint8Array>, AsyncDisposable {
  /** What the shim tells traces and metrics about its broker (see {@link MessagingAttributes}). */
  readonly messaging?: MessagingAttributes;
  /**
   * How many messages of its topics this subscriber (or, in a group, its share of them) has not
   * yielded to its caller yet: those the broker still holds for it plus those it fetched ahead and
   * buffers, where the broker can tell (Kafka: high watermark past the next offset to yield;
   * JetStream: the consumer's pending count; Redis Streams: the group's lag), each shim's TSDoc
   * says exactly how; `undefined` when it cannot tell right now and after `close()`. Never
   * throws. The stream consumer's lag gauge reads it.
   */
  lag?(): Promise<number | undefined>;
  /** Ends the iteration (a pending `next()` resolves with `done: true`) and releases the subscription. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A subscriber on a broker that tracks delivery. A message counts as processed, and is
 * acknowledged to the broker, when the caller asks for the next one or calls {@link ack};
 * messages not acknowledged when the subscriber dies are delivered again to another member of
 * its group.
 */
export interface AcknowledgingSubscriber extends Subscriber {
  /** Acknowledges every message yielded so far. */
  ack(): Promise<void>;
  /**
   * At most how long, in ms, until the broker delivers again a message it sent to this
   * subscriber that never arrived (a connection cut mid-delivery), when the shim knows it
   * (JetStream: the ack wait; Redis Streams: the claim idle time plus the claim interval).
   * `StreamConsumer` waits this long (plus a margin) for a missing batch before reporting it.
   */
  readonly redeliveryMs?: number;
}

/**
 * Sends structured {@link EventBatch}es without encoding them to bytes. Used where producer and
 * consumer share memory (the in-process broker): objects pass by reference, without a copy.
 */
export interface EventPublisher extends AsyncDisposable {
  /** What the shim tells traces and metrics about its broker (see {@link MessagingAttributes}). */
  readonly messaging?: MessagingAttributes;
  /** Sends one batch to `batch.topic`. Same errors as {@link Publisher.send}. */
  sendEvents(batch: EventBatch): Promise<void>;
  /** Releases the publisher after every accepted batch was delivered. Safe to call twice. */
  close(): Promise<void>;
}

/** Yields {@link EventBatch}es of its topics until closed; the event-level twin of {@link Subscriber}. */
export interface EventSubscriber extends AsyncIterable<EventBatch>, AsyncDisposable {
  /** What the shim tells traces and metrics about its broker (see {@link MessagingAttributes}). */
  readonly messaging?: MessagingAttributes;
  /** Ends the iteration and releases the subscription. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Broker facts for OpenTelemetry's messaging conventions, declared by a shim's publishers and
 * subscribers; the stream producer and consumer put them on their spans and metrics.
 */
export interface MessagingAttributes {
  /** `messaging.system`: `'redis'`, `'nats'`, `'kafka'`, `'zeromq'`, … */
  readonly system: string;
  /** `messaging.consumer.group.name`: the group of a competing-consumer subscriber. */
  readonly group?: string;
}

/** Options every shim's subscriber factory accepts. */
export interface SubscribeOptions {
  /** Aborting ends the iteration like `close()`. */
  signal?: AbortSignal;
  /**
   * Name of a group of competing consumers: each message goes to one member of the group.
   * Shims without competing consumers reject this option.
   */
  group?: string;
}
