import { randomUUID } from 'node:crypto';
import {
  AbortedError,
  type AcknowledgingSubscriber,
  type SubscribeOptions,
} from '@proxystream/protocols';
import {
  abortable,
  nonNegative,
  oneOf,
  pause,
  positiveInteger,
  QueueSubscriber,
  settledWithin,
  throwIfAborted,
  withTimeout,
} from '@proxystream/protocols/kit';
import type { Consumer, ConsumerConfig, EachBatchPayload } from 'kafkajs';
import { brokerError, kafkaErrorType } from './kafka-errors.js';
import { OffsetCommitter } from './offset-committer.js';
import { type KafkaConnectionOptions, kafkaClientOf, type TopicSettings } from './options.js';
import { assertValidTopic, TopicCreator } from './topic.js';

/** Where a consumer group without committed offsets starts reading. */
export type KafkaStart = 'beginning' | 'now';

const STARTS = ['beginning', 'now'] as const;

/** Options of {@link KafkaSubscriber.create}. */
export interface KafkaSubscriberOptions extends KafkaConnectionOptions, SubscribeOptions {
  /**
   * Consumer group: members of one group share the topic's partitions (competing consumers).
   * Default: a new group of its own (`proxystream-<uuid>`), so every such subscriber sees every
   * message (fan-out).
   */
  group?: string;
  /**
   * Where a group without committed offsets starts: `'beginning'` at the oldest retained message,
   * `'now'` at the end of the log when the subscriber joins. A group with committed offsets always
   * resumes after them. Default `'beginning'`, so messages sent before the first subscriber
   * existed are delivered.
   */
  start?: KafkaStart;
  /** Create the topic through the admin API if it does not exist (`true`, or its settings). Default `false`. */
  createTopics?: boolean | TopicSettings;
  /** Messages buffered before fetching pauses. Default 1024. */
  maxBufferedMessages?: number;
  /** Message bytes buffered before fetching pauses. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Time without heartbeats after which the broker evicts a dead member, in ms (broker minimum 6 000). Default 30 000. */
  sessionTimeoutMs?: number;
  /** Interval of heartbeats, in ms. Default 3 000. */
  heartbeatIntervalMs?: number;
  /** Longest time a fetch waits at the broker for new messages, in ms; also bounds how long `close()` waits. Default 500. */
  maxWaitTimeMs?: number;
  /** Longest wait for connecting and joining the group, which makes the subscriber ready, in ms. Default 60 000. */
  readyTimeoutMs?: number;
  /**
   * Longest time `close()` waits for the final commit and for leaving the group, in ms; past it,
   * kafkajs finishes disconnecting in the background and the broker drops the member after its
   * session timeout. Default 10 000.
   */
  closeTimeoutMs?: number;
  /** Further kafkajs consumer settings (`rebalanceTimeout`, `maxBytesPerPartition`…). */
  consumer?: Partial<ConsumerConfig>;
}

interface Entry {
  readonly partition: number;
  readonly offset: number;
  readonly lease: number;
  readonly value: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Reads one Kafka topic as a member of a consumer group and yields each message's value.
 *
 * Offsets are committed (auto-commit is off) only for messages the caller has moved past, by
 * asking for the next one or calling {@link KafkaSubscriber.ack}; a subscriber that dies leaves
 * the rest uncommitted, and the group receives them again. Up to `maxBufferedMessages` /
 * `maxBufferedBytes` are fetched ahead; beyond that fetching pauses until the caller catches up,
 * and the broker keeps the rest. The subscriber is ready once it has joined its group.
 *
 * @example
 * ```ts
 * await using subscriber = await KafkaSubscriber.create('frames', { group: 'workers' });
 * for await (const message of subscriber) handle(message); // moving on commits the previous one
 * ```
 */
export class KafkaSubscriber extends QueueSubscriber<Entry> implements AcknowledgingSubscriber {
  /** The topic read. */
  readonly topic: string;
  /** The consumer group this subscriber belongs to. */
  readonly group: string;
  readonly #consumer: Consumer;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #closeTimeoutMs: number;
  readonly #createsTopics: boolean;
  readonly #removeListeners: Array<() => void> = [];
  #bufferedBytes = 0;
  #paused = false;
  /** The entry {@link taken} last handed out, which {@link next} checks against its lease. */
  #taken: Entry | undefined;
  /** The entry yielded last: processed once the caller asks for the next one or acks. */
  #last: Entry | undefined;
  /** Connecting, subscribing and starting the consumer; close waits for it before leaving. */
  #connecting: Promise<void> | undefined;
  // Partition bookkeeping: a lease changes each time a partition is (re)assigned to this member,
  // so entries fetched under an earlier assignment are dropped instead of being yielded twice.
  #leases = new Map<number, number>();
  #leaseCounter = 0;
  #pushedUpTo = new Map<number, number>();
  readonly #offsets: OffsetCommitter;

  private constructor(
    topic: string,
    group: string,
    consumer: Consumer,
    settings: SubscriberSettings,
    signal: AbortSignal | undefined,
    createsTopics: boolean,
  ) {
    super({ capacity: settings.maxBufferedMessages, signal });
    this.topic = topic;
    this.group = group;
    this.#consumer = consumer;
    this.#offsets = new OffsetCommitter(consumer, topic);
    this.#maxMessages = settings.maxBufferedMessages;
    this.#maxBytes = settings.maxBufferedBytes;
    this.#closeTimeoutMs = settings.closeTimeoutMs;
    this.#createsTopics = createsTopics;
  }

  /**
   * Joins the group for `topic` and resolves once this member is part of it.
   * @throws {@link InvalidTopicError} for a name Kafka rejects.
   * @throws {@link InvalidArgumentError} for an option out of range.
   * @throws {@link AbortedError} when `options.signal` is aborted before the subscriber is ready
   * (nothing is left connected, no member left in the group).
   * @throws {@link TimeoutError} when it is not ready within `readyTimeoutMs`.
   * @throws {@link BrokerError} when the broker is unreachable or the topic does not exist.
   */
  static async create(
    topic: string,
    options: KafkaSubscriberOptions = {},
  ): Promise<KafkaSubscriber> {
    const signal = options.signal;
    throwIfAborted(signal);
    assertValidTopic(topic);
    const settings = subscriberSettings(options);
    const kafka = kafkaClientOf(options);
    if (options.createTopics) {
      const creator = new TopicCreator(
        kafka,
        options.createTopics === true ? {} : options.createTopics,
      );
      try {
        await creator.ensure(topic);
      } finally {
        await creator.close();
      }
      throwIfAborted(signal);
    }
    const group = options.group ?? `proxystream-${randomUUID()}`;
    const consumer = kafka.consumer({
      groupId: group,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      maxWaitTimeInMs: settings.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      ...options.consumer,
    });
    const subscriber = new KafkaSubscriber(
      topic,
      group,
      consumer,
      settings,
      signal,
      Boolean(options.createTopics),
    );
    await subscriber.#start(settings.start === 'beginning', settings.readyTimeoutMs, signal);
    if (signal?.aborted) {
      await subscriber.close();
      throw new AbortedError();
    }
    return subscriber;
  }

  /** Marks the previous message processed and resolves with the next one, or `done` once closed. */
  override async next(): Promise<IteratorResult<Uint8Array>> {
    this.#markLastProcessed();
    for (;;) {
      const result = await super.next();
      if (result.done === true) return result;
      const entry = this.#taken as Entry;
      this.#taken = undefined;
      if (this.#leases.get(entry.partition) !== entry.lease) continue;
      this.#last = entry;
      return result;
    }
  }

  /**
   * Commits every message yielded so far and resolves once the broker stored the offsets.
   * @throws {@link BrokerError} when the commit failed (e.g. the group rebalanced meanwhile).
   */
  async ack(): Promise<void> {
    this.#markLastProcessed();
    if (!(await this.#offsets.flush())) {
      throw brokerError(
        'committing offsets failed',
        this.#offsets.lastError ?? 'unknown error',
        this.topic,
      );
    }
  }

  /**
   * Ends the iteration at once, commits what the caller moved past, and leaves the group so its
   * partitions move to other members without waiting for a session timeout. Safe to call twice.
   */
  override close(): Promise<void> {
    return super.close();
  }

  protected taken(entry: Entry): Uint8Array {
    this.#bufferedBytes -= entry.value.byteLength;
    if (this.#paused) this.#resumeIfRoom();
    this.#taken = entry;
    return entry.value;
  }

  async #start(
    fromBeginning: boolean,
    readyTimeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const consumer = this.#consumer;
    const { GROUP_JOIN, CRASH, FETCH } = consumer.events;
    let joinedOnce = false;
    let settle: ((error?: unknown) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Marked handled at once: a crash may reject it while connect() is still being awaited.
    ready.catch(() => undefined);
    this.#removeListeners.push(
      consumer.on(GROUP_JOIN, (event) => {
        this.#assign(event.payload.memberAssignment[this.topic] ?? []);
        if (!joinedOnce && fromBeginning) settle?.();
        joinedOnce = true;
      }),
      consumer.on(FETCH, () => {
        // Starting 'now', the start offset ("latest") is resolved by the first fetch.
        if (joinedOnce && !fromBeginning) settle?.();
      }),
      consumer.on(CRASH, (event) => {
        if (event.payload.restart) return;
        const error = brokerError('the Kafka consumer stopped', event.payload.error, this.topic);
        settle?.(error);
        this.fail(error);
      }),
    );
    // Each step checks whether an abort closed the subscriber meanwhile, so that nothing joins
    // the group after close() left it.
    const connecting = (async () => {
      await consumer.connect();
      if (this.closed) return;
      await this.#subscribe(fromBeginning);
      if (this.closed) return;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.#onBatch(payload),
      });
    })();
    this.#connecting = connecting;
    try {
      await withTimeout(
        abortable(
          connecting.then(() => ready),
          signal,
        ),
        readyTimeoutMs,
        `joining consumer group "${this.group}" of topic "${this.topic}"`,
      );
    } catch (error) {
      await this.close();
      throw brokerError(`subscribing to topic "${this.topic}" failed`, error, this.topic);
    } finally {
      settle = undefined;
    }
  }

  /**
   * Subscribes the consumer. On a cluster, a topic just created reaches its brokers a few
   * milliseconds apart, and the broker kafkajs asks may not know it yet
   * (UNKNOWN_TOPIC_OR_PARTITION): that is asked again, 100 ms later, until `readyTimeoutMs`
   * ends the wait (only when this subscriber creates topics; otherwise a missing topic fails at once).
   */
  async #subscribe(fromBeginning: boolean): Promise<void> {
    for (;;) {
      try {
        await this.#consumer.subscribe({ topics: [this.topic], fromBeginning });
        return;
      } catch (error) {
        if (!this.#createsTopics || kafkaErrorType(error) !== 'UNKNOWN_TOPIC_OR_PARTITION') {
          throw error;
        }
        if (this.closed) return;
        await pause(100);
      }
    }
  }

  async #onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, isRunning, isStale } = payload;
    const partition = batch.partition;
    let lease = this.#leases.get(partition);
    if (lease === undefined) {
      lease = ++this.#leaseCounter;
      this.#leases.set(partition, lease);
    }
    let upTo = this.#pushedUpTo.get(partition) ?? -1;
    for (const message of batch.messages) {
      if (this.closed || !isRunning() || isStale()) break;
      const offset = Number(message.offset);
      // After a rebalance kafkajs fetches again from the committed offset: skip what is buffered.
      if (offset >= upTo) {
        const value = message.value ?? EMPTY;
        this.#bufferedBytes += value.byteLength;
        this.push({ partition, offset, lease, value });
        upTo = offset + 1;
        this.#pushedUpTo.set(partition, upTo);
      }
      resolveOffset(message.offset);
      if (this.full || this.#bufferedBytes >= this.#maxBytes) {
        // Unresolved messages of this batch are fetched again after resume.
        this.#pause();
        break;
      }
    }
  }

  #assign(partitions: readonly number[]): void {
    const next = new Set(partitions);
    for (const partition of [...this.#leases.keys()]) {
      if (next.has(partition)) continue;
      this.#leases.delete(partition);
      this.#pushedUpTo.delete(partition);
      this.#offsets.forget(partition);
    }
    for (const partition of next) {
      if (!this.#leases.has(partition)) this.#leases.set(partition, ++this.#leaseCounter);
    }
  }

  #pause(): void {
    // Paused again even when already paused: a rebalance may have cleared kafkajs's pause state.
    this.#paused = true;
    this.#consumer.pause([{ topic: this.topic }]);
  }

  #resumeIfRoom(): void {
    if (this.closed) return;
    if (this.buffered > this.#maxMessages / 2 || this.#bufferedBytes > this.#maxBytes / 2) return;
    this.#paused = false;
    this.#consumer.resume([{ topic: this.topic }]);
  }

  #markLastProcessed(): void {
    const last = this.#last;
    if (last === undefined) return;
    this.#last = undefined;
    if (this.#leases.get(last.partition) !== last.lease) return;
    this.#offsets.mark(last.partition, last.offset + 1);
  }

  protected async release(): Promise<void> {
    this.#last = undefined;
    const connecting = this.#connecting;
    const leave = async () => {
      // A consumer still connecting is disconnected once connected (also after the timeout).
      await connecting?.catch(() => undefined);
      // Commit what the caller moved past before leaving: kafkajs ignores commits once stopped.
      await this.#offsets.flush();
      await this.#consumer.disconnect().catch(() => undefined);
    };
    try {
      await settledWithin(leave(), this.#closeTimeoutMs);
    } finally {
      for (const remove of this.#removeListeners.splice(0)) remove();
    }
  }
}

/** The subscriber's options, checked and with their defaults. */
interface SubscriberSettings {
  readonly start: KafkaStart;
  readonly maxBufferedMessages: number;
  readonly maxBufferedBytes: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxWaitTimeMs: number;
  readonly readyTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

function subscriberSettings(options: KafkaSubscriberOptions): SubscriberSettings {
  return {
    start: oneOf(options.start, 'start', STARTS, 'beginning'),
    maxBufferedMessages: positiveInteger(options.maxBufferedMessages, 'maxBufferedMessages', 1024),
    maxBufferedBytes: positiveInteger(
      options.maxBufferedBytes,
      'maxBufferedBytes',
      4 * 1024 * 1024,
    ),
    sessionTimeoutMs: positiveInteger(options.sessionTimeoutMs, 'sessionTimeoutMs', 30_000),
    heartbeatIntervalMs: positiveInteger(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 3_000),
    maxWaitTimeMs: positiveInteger(options.maxWaitTimeMs, 'maxWaitTimeMs', 500),
    readyTimeoutMs: positiveInteger(options.readyTimeoutMs, 'readyTimeoutMs', 60_000),
    closeTimeoutMs: nonNegative(options.closeTimeoutMs, 'closeTimeoutMs', 10_000),
  };
}
