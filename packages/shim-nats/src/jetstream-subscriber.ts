import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import {
  AbortedError,
  type AcknowledgingSubscriber,
  BrokerError,
  type MessagingAttributes,
  type SubscribeOptions,
} from '@proxystream/protocols';
import { oneOf, positiveInteger, QueueSubscriber, withTimeout } from '@proxystream/protocols/kit';
import { NATS_MESSAGING } from './capabilities.js';
import {
  type HeldConnection,
  maxPayloadOf,
  messageOf,
  type NatsConnectionOptions,
  openConnection,
  releaseConnection,
  toProxyStreamError,
} from './connection.js';
import { watchStatus } from './connection-status.js';
import { durableName, type JetStreamStreamOptions, StreamTarget } from './jetstream-stream.js';
import { assertValidName, assertValidTopic } from './topic.js';
import { withRetries } from './transient.js';

/** Where a new consumer starts in the topic: its oldest stored message, or what comes next. */
export type JetStreamStart = 'beginning' | 'now';

const STARTS = ['beginning', 'now'] as const;

/** Options of {@link JetStreamSubscriber.create}. */
export interface JetStreamSubscriberOptions
  extends NatsConnectionOptions,
    JetStreamStreamOptions,
    SubscribeOptions {
  /**
   * Where a new consumer starts: `'beginning'` (default), the oldest message the stream holds
   * for the topic; `'now'`, the messages stored after the subscriber was created. It applies
   * when the consumer is made: for a `group`, only when the group's durable consumer does not
   * exist yet (an existing group goes on where it stopped, whatever `start` says); without a
   * group, every subscriber has a consumer of its own.
   */
  start?: JetStreamStart;
  /**
   * How long the server waits for a group member's acknowledgement before it delivers the
   * message again, in ms (≥ 1 000). While the subscriber holds a message (buffered, or yielded
   * and not yet acknowledged) it tells the server every third of this time that the message is
   * in progress, so slow processing does not cause a redelivery; what it bounds is how soon a
   * message comes again after the process died or a delivery was cut by a lost connection.
   * Default 30 000.
   */
  ackWaitMs?: number;
  /**
   * Bytes fetched ahead of the reader, approximately: pulls ask for as many messages as fit,
   * judged by the sizes seen so far (and at least one message). Default 4 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * How long one pull request waits for messages before it is renewed, in ms (≥ 1 000). A group
   * member's `close()` waits for its pull to end, so this bounds how long `close()` takes.
   * Default 2 000.
   */
  fetchExpiresMs?: number;
  /** Most messages delivered but not acknowledged across the whole group. Default: the server's (1 000). */
  maxAckPending?: number;
}

/** How long `create` retries its consumer requests through timeouts and leader elections, in ms. */
const CREATE_RETRY_MS = 30_000;

/** Bytes counted per message on top of its data (subject, headers, bookkeeping). */
const MESSAGE_OVERHEAD = 256;
/** Smallest per-message estimate, so a topic of empty messages does not pull huge batches. */
const MIN_ESTIMATE = 1024;
/** Most messages one pull asks for. */
const MAX_BATCH = 256;
/** Longest wait of {@link JetStreamSubscriber.lag} for the consumer's info, in ms. */
const LAG_TIMEOUT_MS = 5_000;

function isStreamNotFound(error: unknown): boolean {
  return (
    (error as { code?: unknown } | null)?.code === 10059 ||
    /stream not found/i.test(messageOf(error))
  );
}

interface Settings {
  readonly ackWait: number;
  readonly maxBytes: number;
  readonly expires: number;
  readonly maxAckPending: number | undefined;
  readonly start: JetStreamStart;
}

/** Where a consumer delivers from: every stored message, or the stream sequences from one on. */
type DeliverFrom =
  | { deliver_policy: typeof DeliverPolicy.All }
  | { deliver_policy: typeof DeliverPolicy.StartSequence; opt_start_seq: number };

/**
 * Reads one topic from JetStream.
 *
 * - With `group`: a durable consumer named after the group and topic, shared by every member
 *   (competing consumers). A new group starts at the oldest message of the topic (or, with
 *   `start: 'now'`, at the next one); a group picks up where it stopped. A message counts as processed, and is acknowledged, when the reader asks
 *   for the next one or calls {@link ack}; one not acknowledged is delivered again — at once to
 *   another member when this subscriber is closed, after `ackWaitMs` when its process dies or
 *   when a delivery was cut by a lost connection ({@link redeliveryMs}, which `StreamConsumer`
 *   waits for before it reports a missing batch).
 * - Without `group`: an ordered consumer of its own that reads the whole topic from the oldest
 *   message (or, with `start: 'now'`, what is stored after it was created), for this subscriber alone; nothing to acknowledge, and it is gone after `close()`.
 *
 * Messages are pulled only when there is room for them (`maxBufferedBytes`): a slow reader
 * leaves them in the stream.
 *
 * @example
 * ```ts
 * await using subscriber = await JetStreamSubscriber.create('frames', {
 *   connection: { servers: 'nats://127.0.0.1:4222' },
 *   group: 'workers',
 * });
 * for await (const message of subscriber) await handle(message); // acknowledged on the next turn
 * ```
 */
export class JetStreamSubscriber extends QueueSubscriber<JsMsg> implements AcknowledgingSubscriber {
  // An optional property, not a getter returning `number | undefined`: that would not match the
  // interface's `redeliveryMs?: number` for a caller compiling with exactOptionalPropertyTypes.
  /**
   * For a group member: at most how long, in ms, until a message the server sent that never
   * arrived (a connection cut mid-delivery) is delivered again — `ackWaitMs`. Without a group
   * the ordered consumer recovers by itself: not set.
   */
  readonly redeliveryMs?: number;
  /** `{ system: 'nats' }`, with `group` for a member of a group (a durable consumer). */
  readonly messaging: MessagingAttributes;
  readonly #held: HeldConnection;
  readonly #settings: Settings;
  readonly #buffered = new Set<JsMsg>();
  readonly #durable: boolean;
  /** Bytes one message is expected to take; starts at `max_payload`, then follows the sizes seen. */
  #sizeEstimate: number;
  /** Undefined while an ordered consumer whose pull failed waits to be made again. */
  #consumer: Consumer | undefined;
  /** Makes the consumer again: a durable's from its info, an ordered one from `#nextSequence`. */
  #recreate: (() => Promise<Consumer>) | undefined;
  /** Without a group: the stream sequence after the last message received, where to resume. */
  #nextSequence = 0;
  #bufferedBytes = 0;
  #unacked: JsMsg | undefined;
  /** The message received last: its delivery info carries the consumer's pending count. */
  #lastReceived: JsMsg | undefined;
  #fetch: ConsumerMessages | undefined;
  #wakePump: (() => void) | undefined;
  #wakeRetry: (() => void) | undefined;
  /** False from a `disconnect` status to the next `reconnect`. */
  #connected = true;
  #pump: Promise<void> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #unwatch: (() => void) | undefined;

  private constructor(
    held: HeldConnection,
    group: string | undefined,
    settings: Settings,
    signal?: AbortSignal,
  ) {
    // Pulls are bounded by bytes (maxBufferedBytes), not by the queue's capacity.
    super({ capacity: Number.MAX_SAFE_INTEGER, signal });
    const durable = group !== undefined;
    this.messaging = durable ? Object.freeze({ ...NATS_MESSAGING, group }) : NATS_MESSAGING;
    this.#held = held;
    this.#durable = durable;
    this.#settings = settings;
    if (durable) this.redeliveryMs = settings.ackWait;
    this.#sizeEstimate = maxPayloadOf(held.nc) + MESSAGE_OVERHEAD;
  }

  /**
   * Creates the consumer (a durable one for a group) and starts pulling.
   * @throws {@link InvalidTopicError} for a topic with wildcards, whitespace or empty tokens.
   * @throws {@link InvalidArgumentError} for an invalid option, before connecting.
   * @throws {@link AbortedError} when `signal` is aborted before the subscriber is ready; nothing stays open.
   * @throws {@link BrokerError} when the server cannot be reached or no stream holds the topic.
   */
  static async create(
    topic: string,
    options: JetStreamSubscriberOptions = {},
  ): Promise<JetStreamSubscriber> {
    assertValidTopic(topic);
    const group = options.group;
    if (group !== undefined) assertValidName('group', group);
    const target = new StreamTarget(options);
    const settings: Settings = {
      ackWait: Math.max(1_000, positiveInteger(options.ackWaitMs, 'ackWaitMs', 30_000)),
      maxBytes: positiveInteger(options.maxBufferedBytes, 'maxBufferedBytes', 4 * 1024 * 1024),
      expires: Math.max(1_000, positiveInteger(options.fetchExpiresMs, 'fetchExpiresMs', 2_000)),
      maxAckPending:
        options.maxAckPending === undefined
          ? undefined
          : positiveInteger(options.maxAckPending, 'maxAckPending', 1),
      start: oneOf(options.start, 'start', STARTS, 'beginning'),
    };
    const held = await openConnection(options.connection, options.signal);
    const subscriber = new JetStreamSubscriber(held, group, settings, options.signal);
    try {
      await target.ensure(held.nc);
      const jsm = await jetstreamManager(held.nc);
      const subject = target.subject(topic);
      // Resolved once, so that a consumer made again later starts at the same place. Both
      // requests retry through a cluster's leader election (a node just died or came back).
      const from = await withRetries(CREATE_RETRY_MS, () =>
        subscriber.#deliverFrom(jsm, target.name),
      );
      if (group === undefined && 'opt_start_seq' in from) {
        subscriber.#nextSequence = from.opt_start_seq;
      }
      const open =
        group === undefined
          ? () => subscriber.#openOrdered(target.name, subject)
          : () =>
              subscriber.#openDurable(jsm, target.name, subject, durableName(topic, group), from);
      subscriber.#consumer = await withRetries(CREATE_RETRY_MS, open);
      subscriber.#recreate = open;
    } catch (error) {
      await subscriber.close();
      if (isStreamNotFound(error)) {
        throw new BrokerError(
          `no JetStream stream ${target.name}: create it with ensureStream() or pass createStream`,
          { cause: error },
        );
      }
      throw toProxyStreamError(error, `subscribing to "${topic}"`);
    }
    if (options.signal?.aborted) {
      await subscriber.close();
      throw new AbortedError();
    }
    subscriber.#pump = subscriber.#run();
    subscriber.#unwatch = watchStatus(held.nc, (status) => {
      if (status.type === 'disconnect') subscriber.#connected = false;
      else if (status.type === 'reconnect') {
        subscriber.#connected = true;
        subscriber.#wakeRetry?.();
      }
    });
    if (subscriber.#durable) {
      const period = Math.max(300, Math.floor(settings.ackWait / 3));
      subscriber.#heartbeat = setInterval(() => subscriber.#inProgress(), period);
      subscriber.#heartbeat.unref();
    }
    return subscriber;
  }

  /** Tells the server that the messages held here are still being worked on (resets ack wait). */
  #inProgress(): void {
    if (this.#held.nc.isClosed() || this.closed) return;
    try {
      this.#unacked?.working();
      for (const message of this.#buffered) message.working();
    } catch {
      // Disconnected: the server redelivers after ackWaitMs, which is the contract.
    }
  }

  async #openDurable(
    jsm: JetStreamManager,
    stream: string,
    subject: string,
    durable: string,
    from: DeliverFrom,
  ): Promise<Consumer> {
    // An existing group goes on where it stopped: its start cannot change (the server refuses
    // to update a deliver policy), so it is kept; ack wait and max ack pending are updated.
    const existing = await jsm.consumers.info(stream, durable).catch(() => undefined);
    const start: Partial<
      Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_seq' | 'opt_start_time'>
    > =
      existing === undefined
        ? from
        : {
            deliver_policy: existing.config.deliver_policy,
            ...(existing.config.opt_start_seq === undefined
              ? {}
              : { opt_start_seq: existing.config.opt_start_seq }),
            ...(existing.config.opt_start_time === undefined
              ? {}
              : { opt_start_time: existing.config.opt_start_time }),
          };
    const info = await jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      ...start,
      ack_wait: nanos(this.#settings.ackWait),
      ...(this.#settings.maxAckPending === undefined
        ? {}
        : { max_ack_pending: this.#settings.maxAckPending }),
    });
    return jsm.jetstream().consumers.getConsumerFromInfo(info);
  }

  /**
   * Where a new consumer starts: every stored message (`'beginning'`), or the stream sequences
   * after the last one stored now (`'now'`; a sequence, not `DeliverPolicy.New`, so that a
   * consumer made again after a failure misses nothing stored in between).
   */
  async #deliverFrom(jsm: JetStreamManager, stream: string): Promise<DeliverFrom> {
    if (this.#settings.start === 'beginning') return { deliver_policy: DeliverPolicy.All };
    const info = await jsm.streams.info(stream);
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: info.state.last_seq + 1 };
  }

  /** An ordered consumer from the oldest message, or from where the previous one stopped. */
  #openOrdered(stream: string, subject: string): Promise<Consumer> {
    const consumers = jetstream(this.#held.nc).consumers;
    return this.#nextSequence === 0
      ? consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All })
      : consumers.get(stream, {
          filter_subjects: subject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.#nextSequence,
        });
  }

  /**
   * Drops an ordered consumer whose pull failed, so that the next pull makes a new one. The
   * client's ordered consumer is not fit to reuse once its server-side consumer was lost (a
   * restart loses ephemerals): from then on each of its fetches makes a new consumer, reads
   * delivery sequence 1 where it expects the one after the last seen, takes that for a gap,
   * makes another and asks it for 0 messages, and gets its batch only after two missed
   * heartbeats: about 3 s a pull with the defaults, for the rest of the stream (seen with
   * @nats-io/jetstream 3.4.0).
   */
  #dropOrdered(): void {
    const stale = this.#consumer;
    this.#consumer = undefined;
    // Usually gone already; otherwise its inactive threshold would remove it after 5 minutes.
    stale?.delete().catch(() => undefined);
  }

  /** Pulls while there is room, pushes into the queue, and survives reconnections. */
  async #run(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      const count = Math.min(
        MAX_BATCH,
        Math.floor((this.#settings.maxBytes - this.#bufferedBytes) / this.#sizeEstimate),
      );
      if (count < 1 && this.#bufferedBytes > 0) {
        await new Promise<void>((resolve) => {
          this.#wakePump = resolve;
        });
        continue;
      }
      let largest = 0;
      try {
        this.#consumer ??= await this.#recreate!();
        // A count, not max_bytes: the client cannot tell when a byte-bounded pull is complete.
        // The count follows the sizes seen, so that the bytes buffered stay near maxBufferedBytes.
        const batch = await this.#consumer.fetch({
          max_messages: Math.max(1, count),
          expires: this.#settings.expires,
        });
        this.#fetch = batch;
        if (this.closed && !this.#durable) batch.stop();
        for await (const message of batch) {
          if (this.closed) {
            if (this.#durable) message.nak();
            continue;
          }
          const size = message.data.byteLength;
          if (size > largest) largest = size;
          this.#buffered.add(message);
          this.#bufferedBytes += size;
          this.push(message);
          this.#lastReceived = message;
          if (!this.#durable) this.#nextSequence = message.seq + 1;
          delay = 100;
        }
      } catch (error) {
        if (this.closed) break;
        if (!this.#durable) {
          if (this.#consumer === undefined && isStreamNotFound(error)) {
            this.#streamGone(error);
            break;
          }
          this.#dropOrdered();
        }
        await this.#pause(delay);
        delay = Math.min(delay * 2, 2_000);
        try {
          // The consumer may be gone (deleted, or an ephemeral lost in a restart): make it again.
          if (this.#durable) this.#consumer = await this.#recreate!();
        } catch (again) {
          if (isStreamNotFound(again) && !this.closed) {
            this.#streamGone(again);
            break;
          }
        }
      } finally {
        this.#fetch = undefined;
        // Decay slowly: a topic of mixed sizes keeps counting with its large messages.
        this.#sizeEstimate = Math.max(
          largest + MESSAGE_OVERHEAD,
          this.#sizeEstimate / 2,
          MIN_ESTIMATE,
        );
      }
    }
  }

  #streamGone(error: unknown): void {
    this.fail(
      new BrokerError(`the JetStream stream is gone: ${messageOf(error)}`, { cause: error }),
    );
  }

  /**
   * Waits `delay` ms before a retry — and, while the connection is down, until it is back (a
   * JetStream request sent while disconnected would only wait for its timeout). A reconnect or
   * `close()` ends the wait at once.
   */
  async #pause(delay: number): Promise<void> {
    await new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout>;
      const tick = () => {
        if (this.#connected || this.#held.nc.isClosed() || this.closed) resolve();
        else timer = setTimeout(tick, delay);
      };
      timer = setTimeout(tick, delay);
      this.#wakeRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wakeRetry = undefined;
  }

  /** The next message; asking for it acknowledges the previous one. */
  override next(): Promise<IteratorResult<Uint8Array>> {
    const previous = this.#unacked;
    if (previous !== undefined) {
      this.#unacked = undefined;
      try {
        previous.ack();
      } catch {
        // The connection is closed: the message will be delivered again, which is the contract.
      }
    }
    return super.next();
  }

  protected taken(message: JsMsg): Uint8Array {
    this.#buffered.delete(message);
    this.#bufferedBytes -= message.data.byteLength;
    const wake = this.#wakePump;
    // Woken as the pump would pull: with room for one message as estimated, or with an empty
    // buffer (a maxBufferedBytes below the estimate still pulls one at a time).
    if (
      wake !== undefined &&
      (this.#bufferedBytes === 0 ||
        this.#settings.maxBytes - this.#bufferedBytes >= this.#sizeEstimate)
    ) {
      this.#wakePump = undefined;
      wake();
    }
    if (this.#durable) this.#unacked = message;
    return message.data;
  }

  /**
   * Acknowledges the message yielded last (and so every message yielded so far), waiting for
   * the server to confirm. Without a group there is nothing to acknowledge.
   * @throws {@link BrokerError} when the server does not confirm.
   */
  async ack(): Promise<void> {
    const message = this.#unacked;
    if (message === undefined) return;
    this.#unacked = undefined;
    try {
      await message.ackAck();
    } catch (error) {
      throw toProxyStreamError(error, 'acknowledging a message');
    }
  }

  /**
   * How many messages of the topic this subscriber has not yielded yet: those its consumer (the
   * group's durable consumer, shared by every member, or the subscriber's own ordered consumer)
   * has not delivered — its `num_pending` — plus those received here and not yet yielded.
   * Messages delivered to other members of the group and not acknowledged yet, and those
   * yielded here and not yet acknowledged, do not count.
   *
   * The pending count is the one the server put on the message received last, so a call usually
   * sends nothing. The consumer's info is asked for (one request, at most 5 s) when nothing was
   * received yet, and while the subscriber does not pull because its buffer is full: the last
   * message's count would miss what was stored since. `undefined` after `close()`, and when the
   * server does not answer.
   */
  async lag(): Promise<number | undefined> {
    if (this.closed) return undefined;
    const last = this.#lastReceived;
    const consumer = this.#consumer;
    try {
      if (last !== undefined && this.#wakePump === undefined) {
        return last.info.pending + this.#buffered.size;
      }
      if (consumer === undefined) return undefined;
      const info = await withTimeout(consumer.info(), LAG_TIMEOUT_MS, 'reading the consumer info');
      if (this.closed) return undefined;
      // A message received meanwhile carries a newer count than the reply.
      const newer = this.#lastReceived;
      const pending =
        newer !== last && newer !== undefined && this.#wakePump === undefined
          ? newer.info.pending
          : info.num_pending;
      return pending + this.#buffered.size;
    } catch {
      return undefined;
    }
  }

  /**
   * Ends the iteration at once. Messages of a group that were fetched or yielded but not
   * acknowledged are handed back (negative acknowledgement) for another member to read; the
   * promise resolves once the pull in flight has ended (at most `fetchExpiresMs`).
   */
  override close(): Promise<void> {
    return super.close();
  }

  protected async release(): Promise<void> {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#unwatch?.();
    this.#wakeRetry?.();
    const wake = this.#wakePump;
    this.#wakePump = undefined;
    wake?.();
    // A durable's pull request stays open on the server until it expires or is filled, even
    // after the client unsubscribed: a message handed back now could be sent to it and be lost
    // until ackWaitMs. So let the pull end (handing back what still arrives), then hand back.
    if (this.#durable) await this.#pump;
    else this.#fetch?.stop();
    const unread = [...this.#buffered];
    if (this.#unacked !== undefined) unread.unshift(this.#unacked);
    this.#unacked = undefined;
    this.#lastReceived = undefined;
    this.#buffered.clear();
    this.#bufferedBytes = 0;
    if (this.#durable && !this.#held.nc.isClosed()) {
      for (const message of unread) {
        try {
          message.nak();
        } catch {
          // Not handed back: the server delivers it again after ackWaitMs.
        }
      }
    }
    await this.#pump;
    await releaseConnection(this.#held);
  }
}
