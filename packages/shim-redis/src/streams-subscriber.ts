import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidArgumentError, type MessagingAttributes } from '@proxystream/protocols';
import {
  nonNegative,
  oneOf,
  positiveInteger,
  positiveNumber,
  throwIfAborted,
  withTimeout,
} from '@proxystream/protocols/kit';
import { REDIS_MESSAGING } from './capabilities.js';
import { isReplyError } from './connection.js';
import {
  type PulledMessage,
  PullSubscriber,
  type RedisPullSubscriberOptions,
} from './pull-subscriber.js';
import { STREAM_DATA_FIELD } from './streams-publisher.js';
import { parseClaimReply, parseGroupLag, parseReadReply } from './streams-replies.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link RedisStreamsSubscriber.create}. */
export interface RedisStreamsSubscriberOptions extends RedisPullSubscriberOptions {
  /**
   * Consumer group: its members share the messages of the stream. Without it the subscriber makes
   * a private group (`proxystream-<uuid>`), receives every message (fan-out) and destroys the
   * group when it closes.
   */
  group?: string;
  /** Consumer name inside the group. Default `<hostname>-<pid>-<uuid>`; give a stable name to a worker that restarts, so it resumes its own pending messages first. */
  consumer?: string;
  /**
   * Where a group that does not exist yet starts: `'beginning'` (every entry still in the stream,
   * the default, so that nothing sent before the first subscriber is lost) or `'now'` (only
   * entries added after the group is created). An existing group keeps its position.
   */
  start?: 'beginning' | 'now';
  /**
   * A message delivered to a member and not acknowledged for this long (ms) is claimed
   * (`XAUTOCLAIM`) by another member that is reading. Default 30 000.
   */
  claimIdleMs?: number;
  /** How often (ms) a reading subscriber looks for messages to claim. Default `min(claimIdleMs, 5000)`. */
  claimIntervalMs?: number;
  /** Entries read per `XREADGROUP`. Default 16. */
  count?: number;
}

const DATA_FIELD = STREAM_DATA_FIELD;

const START = ['beginning', 'now'] as const;

/** Longest wait of {@link RedisStreamsSubscriber.lag} for `XINFO GROUPS`, in ms. */
const LAG_TIMEOUT_MS = 5_000;

/** The options {@link RedisStreamsSubscriber.create} checked before anything is opened. */
interface Checked {
  readonly blockMs: number;
  readonly start: (typeof START)[number];
  readonly claimIdleMs: number;
  readonly claimIntervalMs: number;
  readonly count: number;
}

/**
 * Reads a Redis Stream through a consumer group (`XREADGROUP`): members of one group share its
 * messages; subscribers without a group each get every message.
 *
 * Delivery is at least once. A message is acknowledged (`XACK`) when the caller asks for the next
 * one or calls {@link ack}; with `count` above 1, the messages of one read that the caller moves
 * past in quick succession share one `XACK`, sent within 1 ms (`ACK_COALESCE_MS`) or before the next
 * read. Closing the subscriber marks what it read but did not acknowledge as
 * idle, so that the next member to read claims it at once; messages of a member that died are
 * claimed by another after `claimIdleMs`. A claimed message may arrive out of order.
 *
 * An entry without the data field ({@link STREAM_DATA_FIELD}), e.g. added by another program, is
 * yielded as an empty message, so that a `StreamConsumer` reports it with `DecodeError` like any
 * other malformed message rather than it being dropped unseen.
 *
 * @example
 * ```ts
 * const worker = await RedisStreamsSubscriber.create('jobs', { group: 'workers', claimIdleMs: 10_000 });
 * for await (const job of worker) await run(job);
 * ```
 */
export class RedisStreamsSubscriber extends PullSubscriber {
  /** `{ system: 'redis' }`, with `group` when the caller named the group (competing consumers). */
  readonly messaging: MessagingAttributes;
  readonly #group: string;
  readonly #ownGroup: boolean;
  readonly #consumer: string;
  readonly #startId: string;
  readonly #claimIdleMs: number;
  readonly #claimIntervalMs: number;
  readonly #count: number;
  #nextClaim = 0;
  #claimCursor = '0-0';
  /** Where re-reading this consumer's own pending entries continues, or undefined when not needed. */
  #recoverFrom: string | undefined = '0-0';

  private constructor(topic: string, options: RedisStreamsSubscriberOptions, checked: Checked) {
    super('Redis Streams subscriber', topic, options, checked.blockMs);
    this.#ownGroup = options.group === undefined;
    this.#group = options.group ?? `proxystream-${randomUUID()}`;
    this.messaging =
      options.group === undefined
        ? REDIS_MESSAGING
        : Object.freeze({ ...REDIS_MESSAGING, group: options.group });
    this.#consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomUUID()}`;
    this.#startId = checked.start === 'now' ? '$' : '0';
    this.#claimIdleMs = checked.claimIdleMs;
    this.#claimIntervalMs = checked.claimIntervalMs;
    this.#count = checked.count;
    // After a reconnect a read whose reply was lost may have put entries in our pending list. A
    // cluster client is ready once; a node's connection closing says it there.
    const recover = () => {
      this.#recoverFrom = '0-0';
    };
    this.client.on('ready', recover);
    if (this.onCluster) this.onConnectionLost(recover);
  }

  /**
   * Joins (creating if needed) the group on stream `topic`; resolves once the group exists, so a
   * message sent after that is received.
   * @throws {@link InvalidTopicError} for a topic the Redis shims do not accept.
   * @throws {@link InvalidArgumentError} for an empty `group` or an option out of range.
   * @throws {@link AbortedError} when `options.signal` is aborted before the group exists
   * (nothing stays open).
   * @throws {@link BrokerError} when Redis cannot be reached or refuses the group.
   */
  static async create(
    topic: string,
    options: RedisStreamsSubscriberOptions = {},
  ): Promise<RedisStreamsSubscriber> {
    throwIfAborted(options.signal);
    assertValidTopic(topic);
    if (options.group !== undefined && options.group.length === 0) {
      throw new InvalidArgumentError('group must not be empty');
    }
    const claimIdleMs = nonNegative(options.claimIdleMs, 'claimIdleMs', 30_000);
    const checked: Checked = {
      blockMs: positiveInteger(options.blockMs, 'blockMs', 100),
      start: oneOf(options.start, 'start', START, 'beginning'),
      claimIdleMs,
      claimIntervalMs: positiveNumber(
        options.claimIntervalMs,
        'claimIntervalMs',
        Math.min(claimIdleMs, 5_000) || 1,
      ),
      count: positiveInteger(options.count, 'count', 16),
    };
    const subscriber = new RedisStreamsSubscriber(topic, options, checked);
    try {
      await subscriber.#createGroup();
    } catch (error) {
      await subscriber.failStart(error, options.signal);
    }
    await subscriber.abortedStart(options.signal);
    return subscriber;
  }

  /** The consumer group read. */
  get group(): string {
    return this.#group;
  }

  /** This subscriber's consumer name in the group. */
  get consumer(): string {
    return this.#consumer;
  }

  /**
   * At most how long, in ms, until a message delivered to this subscriber but lost on the way
   * is claimed again (`claimIdleMs` plus `claimIntervalMs`); `StreamConsumer` waits this long
   * for a missing batch before it reports it.
   */
  get redeliveryMs(): number {
    return this.#claimIdleMs + this.#claimIntervalMs;
  }

  /**
   * How many entries of the stream this subscriber has not yielded yet: the group's `lag` (the
   * entries added to the stream that no member of the group has read, from `XINFO GROUPS`,
   * Redis ≥ 7.0) plus the entries read here and not yet yielded. Entries delivered to other
   * members and not acknowledged, or yielded here and not acknowledged yet, do not count.
   *
   * One `XINFO GROUPS` request on the subscriber's own connection, so it may wait behind a
   * blocking read (at most `blockMs`). `undefined` after `close()`, when the server does not
   * report a lag (before Redis 7.0, or when it cannot tell, e.g. after `XDEL` of entries the
   * group has not read), and when it does not answer within 5 s.
   */
  async lag(): Promise<number | undefined> {
    if (this.closed) return undefined;
    try {
      const reply = await withTimeout(
        this.client.call('XINFO', 'GROUPS', this.topic),
        LAG_TIMEOUT_MS,
        `reading the lag of stream "${this.topic}"`,
      );
      if (this.closed) return undefined;
      const lag = parseGroupLag(reply, this.#group);
      return lag === undefined ? undefined : lag + this.buffered;
    } catch {
      return undefined;
    }
  }

  async #createGroup(): Promise<void> {
    try {
      await this.client.call(
        'XGROUP',
        'CREATE',
        this.topic,
        this.#group,
        this.#startId,
        'MKSTREAM',
      );
    } catch (error) {
      if (!(isReplyError(error) && (error as Error).message.startsWith('BUSYGROUP'))) throw error;
    }
  }

  protected async fetch(): Promise<PulledMessage[]> {
    try {
      return await this.#fetch();
    } catch (error) {
      // The stream or the group was deleted (or lost in a restart without persistence).
      if (isReplyError(error) && (error as Error).message.startsWith('NOGROUP')) {
        await this.#createGroup();
        return [];
      }
      throw error;
    }
  }

  async #fetch(): Promise<PulledMessage[]> {
    const count = this.#count;
    if (this.#recoverFrom !== undefined) {
      // An acknowledgement on its way (on a cluster, retried across the reconnect) would make its
      // entry look pending again.
      await this.acknowledgementsSettled();
      const reply = await this.client.callBuffer(
        'XREADGROUP',
        'GROUP',
        this.#group,
        this.#consumer,
        'COUNT',
        count,
        'STREAMS',
        this.topic,
        this.#recoverFrom,
      );
      const { messages, skipped, lastId } = parseReadReply(reply, DATA_FIELD);
      this.#recoverFrom = lastId;
      await this.#skip(skipped);
      const fresh = messages.filter((message) => !this.isHeld(message.id));
      if (fresh.length > 0 || this.#recoverFrom !== undefined) return fresh;
    }
    if (Date.now() >= this.#nextClaim) {
      const reply = await this.client.callBuffer(
        'XAUTOCLAIM',
        this.topic,
        this.#group,
        this.#consumer,
        this.#claimIdleMs,
        this.#claimCursor,
        'COUNT',
        count,
      );
      const { cursor, messages, skipped } = parseClaimReply(reply, DATA_FIELD);
      this.#claimCursor = cursor;
      // A full sweep done: wait an interval before the next one.
      if (cursor === '0-0') this.#nextClaim = Date.now() + this.#claimIntervalMs;
      await this.#skip(skipped);
      const fresh = messages.filter((message) => !this.isHeld(message.id));
      if (fresh.length > 0) return fresh;
    }
    const reply = await this.client.callBuffer(
      'XREADGROUP',
      'GROUP',
      this.#group,
      this.#consumer,
      'COUNT',
      count,
      'BLOCK',
      this.blockMs,
      'STREAMS',
      this.topic,
      '>',
    );
    const { messages, skipped } = parseReadReply(reply, DATA_FIELD);
    await this.#skip(skipped);
    return messages;
  }

  /** Entries trimmed away while pending (no fields left): acknowledged and dropped. */
  async #skip(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.client.call('XACK', this.topic, this.#group, ...ids);
  }

  protected acknowledge(messages: readonly PulledMessage[]): Promise<unknown> {
    const ids = messages.map((message) => message.id);
    return this.retried(() => this.client.call('XACK', this.topic, this.#group, ...ids));
  }

  protected handBack(messages: readonly PulledMessage[]): Promise<unknown> {
    if (this.#ownGroup) return Promise.resolve();
    // Still ours, but idle since the epoch: the next member to look claims them at once.
    return this.retried(() => this.#claimBack(messages));
  }

  #claimBack(messages: readonly PulledMessage[]): Promise<unknown> {
    return this.client.call(
      'XCLAIM',
      this.topic,
      this.#group,
      this.#consumer,
      0,
      ...messages.map((message) => message.id),
      'IDLE',
      Date.now(),
      'JUSTID',
    );
  }

  protected override async finish(): Promise<void> {
    if (this.#ownGroup) {
      await this.client.call('XGROUP', 'DESTROY', this.topic, this.#group);
      return;
    }
    // A consumer with nothing pending can go; one with released messages must stay until they are claimed.
    const pending = (await this.client.call(
      'XPENDING',
      this.topic,
      this.#group,
      '-',
      '+',
      1,
      this.#consumer,
    )) as unknown[];
    if (pending.length === 0) {
      await this.client.call('XGROUP', 'DELCONSUMER', this.topic, this.#group, this.#consumer);
    }
  }
}
