import { randomUUID } from 'node:crypto';
import {
  AbortedError,
  type AcknowledgingSubscriber,
  type MessagingAttributes,
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
import type { Admin, Consumer, ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';
import { KAFKA_MESSAGING } from './capabilities.js';
import { brokerError, isStaleMembership, kafkaErrorType } from './kafka-errors.js';
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

/** How long the subscriber runs its consumer again after a coordinator lookup failed, in ms. */
const REJOIN_FOR_MS = 60_000;
/** Pause before each such new run, in ms. */
const REJOIN_PAUSE_MS = 1_000;

/** Whether `error` (or its cause) is kafkajs giving up on finding the group coordinator. */
function isCoordinatorLookup(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause.name === 'KafkaJSGroupCoordinatorNotFound') return true;
  }
  return false;
}

/**
 * How long {@link KafkaSubscriber.ack} waits, in ms, for the member to rejoin its group when the
 * coordinator refused a commit of an older generation, before it gives up.
 */
const ACK_REJOIN_MS = 30_000;

/** Longest wait of {@link KafkaSubscriber.lag} for the broker, when it has to ask it, in ms. */
const LAG_TIMEOUT_MS = 5_000;

/** What {@link KafkaSubscriber}'s constructor is given by `create`. */
interface Parts {
  readonly topic: string;
  readonly group: string;
  readonly kafka: Kafka;
  readonly consumer: Consumer;
  readonly messaging: MessagingAttributes;
  readonly createsTopics: boolean;
}

/**
 * Reads one Kafka topic as a member of a consumer group and yields each message's value.
 *
 * Offsets are committed (auto-commit is off) only for messages the caller has moved past, by
 * asking for the next one or calling {@link KafkaSubscriber.ack}; a subscriber that dies leaves
 * the rest uncommitted, and the group receives them again. What is moved past within 1 ms goes
 * in one commit request (so a crash repeats at most those messages); `ack()` commits at once. Up to `maxBufferedMessages` /
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
  /** `{ system: 'kafka' }`, with `group` when the caller named the group (competing consumers). */
  readonly messaging: MessagingAttributes;
  readonly #kafka: Kafka;
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
  /** When the consumer first stopped for a missing coordinator, until it joins its group again. */
  #rejoiningSince: number | undefined;
  /** How many times the consumer has joined its group (each join is a new generation). */
  #joins = 0;
  // Partition bookkeeping: a lease changes each time a partition is (re)assigned to this member,
  // so entries fetched under an earlier assignment are dropped instead of being yielded twice.
  #leases = new Map<number, number>();
  #leaseCounter = 0;
  #pushedUpTo = new Map<number, number>();
  // What lag() reads, per assigned partition: the high watermark of the last batch fetched, and
  // the offset of the next message to yield (the first one buffered until one is yielded).
  #highWatermarks = new Map<number, number>();
  #positions = new Map<number, number>();
  /** Opened by the first lag() that must ask the broker; closed with the subscriber. */
  #admin: Promise<Admin> | undefined;
  readonly #fromBeginning: boolean;
  readonly #offsets: OffsetCommitter;

  private constructor(parts: Parts, settings: SubscriberSettings, signal: AbortSignal | undefined) {
    super({ capacity: settings.maxBufferedMessages, signal });
    this.topic = parts.topic;
    this.group = parts.group;
    this.messaging = parts.messaging;
    this.#kafka = parts.kafka;
    this.#consumer = parts.consumer;
    this.#offsets = new OffsetCommitter(parts.consumer, parts.topic);
    this.#maxMessages = settings.maxBufferedMessages;
    this.#maxBytes = settings.maxBufferedBytes;
    this.#closeTimeoutMs = settings.closeTimeoutMs;
    this.#createsTopics = parts.createsTopics;
    this.#fromBeginning = settings.start === 'beginning';
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
    const messaging =
      options.group === undefined ? KAFKA_MESSAGING : Object.freeze({ ...KAFKA_MESSAGING, group });
    const subscriber = new KafkaSubscriber(
      { topic, group, kafka, consumer, messaging, createsTopics: Boolean(options.createTopics) },
      settings,
      signal,
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
      this.#positions.set(entry.partition, entry.offset + 1);
      return result;
    }
  }

  /**
   * Commits every message yielded so far and resolves once the broker stored the offsets. When
   * the coordinator refuses the commit because the group moved to a new generation (a
   * rebalance, or this member's session expired), it waits for the member to rejoin, up to 30 s,
   * and commits again; offsets of a partition that went to another member meanwhile are dropped
   * (that member reads those messages again: delivered twice, not lost).
   * @throws {@link BrokerError} when the commit failed otherwise, or the member did not rejoin.
   */
  async ack(): Promise<void> {
    this.#markLastProcessed();
    const deadline = Date.now() + ACK_REJOIN_MS;
    for (;;) {
      const joins = this.#joins;
      if (await this.#offsets.flush()) return;
      const error = this.#offsets.lastError;
      // The group moved on to a generation without this member (a rebalance, an expired
      // session): kafkajs rejoins by itself. Committed again in the new generation; a partition
      // given to another member meanwhile is forgotten (#assign), and that member reads on from
      // the last commit, so nothing is lost (what was processed here comes again there).
      if (!isStaleMembership(error) || this.closed || Date.now() >= deadline) {
        throw brokerError('committing offsets failed', error ?? 'unknown error', this.topic);
      }
      while (this.#joins === joins && !this.closed && Date.now() < deadline) await pause(100);
    }
  }

  /**
   * How many messages of the partitions assigned to this member it has not yielded yet: the sum,
   * over those partitions, of the high watermark less the offset of the next message to yield.
   * Messages fetched into the buffer and not yet yielded count (they are not processed), so the
   * value is what this member still has to read; messages of partitions assigned to other
   * members of the group do not. A member with no partition has a lag of 0.
   *
   * The high watermarks come with each fetched batch, so a call usually sends nothing. The
   * broker is asked (the topic's offsets with `ListOffsets`, plus the group's with `OffsetFetch`
   * for a partition nothing was fetched from yet, through an admin client opened on the first
   * such call and closed with the subscriber) only while fetching is paused because the buffer is full — the last batch's
   * watermark would miss what was sent since — or while a partition assigned to this member has
   * not delivered a batch yet. Offsets taken by control records of transactions count as
   * messages. `undefined` after `close()`, and when the broker does not answer within 5 s.
   */
  async lag(): Promise<number | undefined> {
    if (this.closed) return undefined;
    const partitions = [...this.#leases.keys()];
    const unseen = partitions.filter((partition) => !this.#positions.has(partition));
    if (!this.#paused && unseen.length === 0)
      return this.#lagFrom(partitions, this.#highWatermarks);
    try {
      const fresh = await withTimeout(
        this.#askOffsets(unseen),
        LAG_TIMEOUT_MS,
        `reading the offsets of topic "${this.topic}"`,
      );
      if (fresh === undefined || this.closed) return undefined;
      return this.#lagFrom([...this.#leases.keys()], fresh.highWatermarks, fresh.positions);
    } catch {
      return undefined;
    }
  }

  /** Sum of `high watermark - position` over `partitions`; `positions` fills in unknown ones. */
  #lagFrom(
    partitions: readonly number[],
    highWatermarks: ReadonlyMap<number, number>,
    positions?: ReadonlyMap<number, number>,
  ): number | undefined {
    let lag = 0;
    for (const partition of partitions) {
      const high = highWatermarks.get(partition) ?? this.#highWatermarks.get(partition);
      const position = this.#positions.get(partition) ?? positions?.get(partition);
      if (high === undefined || position === undefined) return undefined;
      lag += Math.max(0, high - position);
    }
    return lag;
  }

  /**
   * The topic's high watermarks now, and for `unseen` partitions (nothing fetched from them yet)
   * where this member will start reading: the group's committed offset, or without one the
   * oldest retained offset (`start: 'beginning'`) or the end of the log (`'now'`).
   */
  async #askOffsets(unseen: readonly number[]): Promise<
    | {
        readonly highWatermarks: ReadonlyMap<number, number>;
        readonly positions: ReadonlyMap<number, number>;
      }
    | undefined
  > {
    const admin = this.#adminClient();
    if (admin === undefined) return undefined;
    const client = await admin;
    const [offsets, committed] = await Promise.all([
      client.fetchTopicOffsets(this.topic),
      unseen.length === 0
        ? undefined
        : client.fetchOffsets({ groupId: this.group, topics: [this.topic] }),
    ]);
    const highWatermarks = new Map<number, number>();
    const lows = new Map<number, number>();
    for (const { partition, high, low } of offsets) {
      highWatermarks.set(partition, Number(high));
      lows.set(partition, Number(low));
    }
    const positions = new Map<number, number>();
    for (const { partition, offset } of committed?.[0]?.partitions ?? []) {
      if (!unseen.includes(partition)) continue;
      const start = Number(offset);
      const position =
        start >= 0
          ? start
          : this.#fromBeginning
            ? lows.get(partition)
            : highWatermarks.get(partition);
      if (position !== undefined) positions.set(partition, position);
    }
    return { highWatermarks, positions };
  }

  /** The admin client of {@link lag}, connected once; `undefined` once closed. */
  #adminClient(): Promise<Admin> | undefined {
    if (this.closed) return undefined;
    if (this.#admin === undefined) {
      const admin = this.#kafka.admin();
      const connected = admin.connect().then(() => admin);
      this.#admin = connected;
      // A failed connection is tried again by the next call.
      connected.catch(() => {
        if (this.#admin === connected) this.#admin = undefined;
      });
    }
    return this.#admin;
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
        this.#rejoiningSince = undefined;
        this.#joins++;
        if (!joinedOnce && fromBeginning) settle?.();
        joinedOnce = true;
      }),
      consumer.on(FETCH, () => {
        // Starting 'now', the start offset ("latest") is resolved by the first fetch.
        if (joinedOnce && !fromBeginning) settle?.();
      }),
      consumer.on(CRASH, (event) => {
        if (event.payload.restart) return;
        const cause = event.payload.error;
        if (joinedOnce && !this.closed && isCoordinatorLookup(cause)) {
          const now = Date.now();
          this.#rejoiningSince ??= now;
          if (now - this.#rejoiningSince < REJOIN_FOR_MS) {
            this.#connecting = this.#rejoin(fromBeginning);
            return;
          }
        }
        const error = brokerError('the Kafka consumer stopped', cause, this.topic);
        settle?.(error);
        this.fail(error);
      }),
    );
    // Each step checks whether an abort closed the subscriber meanwhile, so that nothing joins
    // the group after close() left it.
    const connecting = this.#run(fromBeginning);
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

  /** Connects, subscribes and runs the consumer, unless the subscriber is closed meanwhile. */
  async #run(fromBeginning: boolean): Promise<void> {
    const consumer = this.#consumer;
    await consumer.connect();
    if (this.closed) return;
    await this.#subscribe(fromBeginning);
    if (this.closed) return;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#onBatch(payload),
    });
  }

  /**
   * Runs the consumer again after kafkajs stopped it because the group coordinator could not be
   * found (a restarted broker still loading its groups: kafkajs gives up after its retries and
   * does not restart the consumer for that error). What was fetched and not yet yielded stays
   * buffered; what kafkajs fetches again from the committed offsets is skipped.
   */
  async #rejoin(fromBeginning: boolean): Promise<void> {
    await pause(REJOIN_PAUSE_MS);
    if (this.closed) return;
    try {
      await this.#run(fromBeginning);
    } catch (error) {
      this.fail(brokerError('the Kafka consumer could not rejoin its group', error, this.topic));
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
    this.#highWatermarks.set(partition, Number(batch.highWatermark));
    let positioned = this.#positions.has(partition);
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
        if (!positioned) {
          this.#positions.set(partition, offset);
          positioned = true;
        }
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
      this.#highWatermarks.delete(partition);
      this.#positions.delete(partition);
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
    const admin = this.#admin;
    this.#admin = undefined;
    const closeAdmin = async () => {
      await (await admin?.catch(() => undefined))?.disconnect().catch(() => undefined);
    };
    try {
      await settledWithin(Promise.all([leave(), closeAdmin()]), this.#closeTimeoutMs);
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
