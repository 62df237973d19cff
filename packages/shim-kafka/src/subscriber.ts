import { randomUUID } from 'node:crypto';
import {
  AbortedError,
  type AcknowledgingSubscriber,
  MessageQueue,
  type SubscribeOptions,
} from '@proxystream/protocols';
import type { Consumer, ConsumerConfig, EachBatchPayload } from 'kafkajs';
import { brokerError } from './kafka-errors.js';
import { OffsetCommitter } from './offset-committer.js';
import {
  checkPositiveInteger,
  type KafkaConnectionOptions,
  kafkaClientOf,
  type TopicSettings,
} from './options.js';
import { assertKafkaTopic, TopicCreator } from './topic.js';

/** Options of {@link KafkaSubscriber.subscribe}. */
export interface KafkaSubscriberOptions extends KafkaConnectionOptions, SubscribeOptions {
  /**
   * Consumer group: members of one group share the topic's partitions (competing consumers).
   * Default: a new group of its own (`proxystream-<uuid>`), so every such subscriber sees every
   * message (fan-out).
   */
  group?: string;
  /**
   * Where a group without committed offsets starts: `true` at the oldest retained message, `false`
   * at the end of the log when the subscriber joins. A group with committed offsets always resumes
   * after them. Default `true`, so messages sent before the first subscriber existed are delivered.
   */
  fromBeginning?: boolean;
  /** Create the topic through the admin API if it does not exist (`true`, or its settings). Default `false`. */
  createTopics?: boolean | TopicSettings;
  /** Messages buffered before fetching pauses. Default 1024. */
  bufferMessages?: number;
  /** Message bytes buffered before fetching pauses. Default 4 MiB. */
  bufferBytes?: number;
  /** Time without heartbeats after which the broker evicts a dead member, in ms (broker minimum 6 000). Default 30 000. */
  sessionTimeoutMs?: number;
  /** Interval of heartbeats, in ms. Default 3 000. */
  heartbeatIntervalMs?: number;
  /** Longest time a fetch waits at the broker for new messages, in ms; also bounds how long `close()` waits. Default 500. */
  maxWaitTimeMs?: number;
  /** Longest wait for the group join that makes the subscriber ready, in ms. Default 60 000. */
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
const DONE: IteratorResult<Uint8Array> = { value: undefined, done: true };

/**
 * Reads one Kafka topic as a member of a consumer group and yields each message's value.
 *
 * Offsets are committed (auto-commit is off) only for messages the caller has moved past, by
 * asking for the next one or calling {@link KafkaSubscriber.ack}; a subscriber that dies leaves
 * the rest uncommitted, and the group receives them again. Up to `bufferMessages` /
 * `bufferBytes` are fetched ahead; beyond that fetching pauses until the caller catches up, and
 * the broker keeps the rest. The subscriber is ready once it has joined its group.
 *
 * @example
 * ```ts
 * const subscriber = await KafkaSubscriber.subscribe('frames', { group: 'workers' });
 * for await (const message of subscriber) handle(message); // moving on commits the previous one
 * ```
 */
export class KafkaSubscriber implements AcknowledgingSubscriber, AsyncIterableIterator<Uint8Array> {
  /** The topic read. */
  readonly topic: string;
  /** The consumer group this subscriber belongs to. */
  readonly group: string;
  readonly #consumer: Consumer;
  readonly #queue: MessageQueue<Entry>;
  readonly #maxBytes: number;
  readonly #capacity: number;
  readonly #closeTimeoutMs: number;
  readonly #removeListeners: Array<() => void> = [];
  #bufferedBytes = 0;
  #paused = false;
  #closed = false;
  #last: Entry | undefined;
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
    options: KafkaSubscriberOptions,
  ) {
    this.topic = topic;
    this.group = group;
    this.#consumer = consumer;
    this.#offsets = new OffsetCommitter(consumer, topic);
    this.#capacity = options.bufferMessages ?? 1024;
    this.#maxBytes = options.bufferBytes ?? 4 * 1024 * 1024;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.#queue = new MessageQueue<Entry>({
      capacity: this.#capacity,
      ...(options.signal ? { signal: options.signal } : {}),
      onClose: () => this.#shutdown(),
    });
  }

  /**
   * Joins the group for `topic` and resolves once this member is part of it.
   * @throws {@link InvalidTopicError} for a name Kafka rejects.
   * @throws {@link BrokerError} when the broker is unreachable or the topic does not exist.
   * @throws {@link AbortedError} when `options.signal` aborts before the subscriber is ready.
   */
  static async subscribe(
    topic: string,
    options: KafkaSubscriberOptions = {},
  ): Promise<KafkaSubscriber> {
    assertKafkaTopic(topic);
    checkPositiveInteger('bufferMessages', options.bufferMessages);
    checkPositiveInteger('bufferBytes', options.bufferBytes);
    if (options.signal?.aborted) throw new AbortedError();
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
    }
    const group = options.group ?? `proxystream-${randomUUID()}`;
    const consumer = kafka.consumer({
      groupId: group,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 500,
      allowAutoTopicCreation: false,
      ...options.consumer,
    });
    const subscriber = new KafkaSubscriber(topic, group, consumer, options);
    await subscriber.#start(
      options.fromBeginning ?? true,
      options.readyTimeoutMs ?? 60_000,
      options.signal,
    );
    return subscriber;
  }

  /** Marks the previous message processed and resolves with the next one, or `done` once closed. */
  async next(): Promise<IteratorResult<Uint8Array>> {
    this.#markLastProcessed();
    for (;;) {
      const result = await this.#queue.next();
      if (result.done) return DONE;
      const entry = result.value;
      this.#bufferedBytes -= entry.value.byteLength;
      if (this.#paused) this.#resumeIfRoom();
      if (this.#leases.get(entry.partition) !== entry.lease) continue;
      this.#last = entry;
      return { value: entry.value, done: false };
    }
  }

  /** Called by `break` in `for await`: closes the subscriber. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    await this.close();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
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
  close(): Promise<void> {
    return this.#queue.close();
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
        // Without fromBeginning the start offset ("latest") is resolved by the first fetch.
        if (joinedOnce && !fromBeginning) settle?.();
      }),
      consumer.on(CRASH, (event) => {
        if (event.payload.restart) return;
        const error = brokerError('the Kafka consumer stopped', event.payload.error, this.topic);
        settle?.(error);
        this.#queue.fail(error);
      }),
    );
    const onAbort = () => settle?.(new AbortedError('subscribing was aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () =>
        settle?.(
          brokerError(
            'joining the consumer group timed out',
            `no join within ${readyTimeoutMs} ms`,
          ),
        ),
      readyTimeoutMs,
    );
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.#onBatch(payload),
      });
      await ready;
    } catch (error) {
      await this.close();
      throw brokerError(`subscribing to topic "${this.topic}" failed`, error, this.topic);
    } finally {
      settle = undefined;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
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
      if (this.#closed || !isRunning() || isStale()) break;
      const offset = Number(message.offset);
      // After a rebalance kafkajs fetches again from the committed offset: skip what is buffered.
      if (offset >= upTo) {
        const value = message.value ?? EMPTY;
        this.#bufferedBytes += value.byteLength;
        this.#queue.push({ partition, offset, lease, value });
        upTo = offset + 1;
        this.#pushedUpTo.set(partition, upTo);
      }
      resolveOffset(message.offset);
      if (this.#queue.size >= this.#capacity || this.#bufferedBytes >= this.#maxBytes) {
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
    if (this.#closed) return;
    if (this.#queue.size > this.#capacity / 2 || this.#bufferedBytes > this.#maxBytes / 2) return;
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

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#last = undefined;
    const leave = async () => {
      // Commit what the caller moved past before leaving: kafkajs ignores commits once stopped.
      await this.#offsets.flush();
      await this.#consumer.disconnect().catch(() => undefined);
    };
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#closeTimeoutMs);
    });
    try {
      await Promise.race([leave(), limit]);
    } finally {
      clearTimeout(timer);
      for (const remove of this.#removeListeners.splice(0)) remove();
    }
  }
}
