import { randomUUID } from 'node:crypto';
import type { MessagingAttributes } from '@proxystream/protocols';
import { positiveInteger, throwIfAborted } from '@proxystream/protocols/kit';
import type { Redis } from 'ioredis';
import { REDIS_MESSAGING } from './capabilities.js';
import {
  type PulledMessage,
  PullSubscriber,
  type RedisPullSubscriberOptions,
} from './pull-subscriber.js';
import { assertValidTopic } from './topic.js';

/** Options of {@link RedisQueueSubscriber.create}. */
export interface RedisQueueSubscriberOptions extends RedisPullSubscriberOptions {
  /**
   * Accepted for the contract of competing consumers and otherwise ignored: the list is the
   * group, every subscriber of a topic shares its messages.
   */
  group?: string;
  /**
   * Most messages moved to the pending list per read. Default 1: a subscriber holds one message
   * at a time, which shares a queue most evenly between workers. A larger count moves up to that
   * many in one atomic script (one round trip) when the queue has them — much faster for a single
   * fast reader — and every one of them is still handed back when the subscriber closes. The
   * messages of one read that the caller moves past in quick succession are then acknowledged in
   * one command, sent within 1 ms (`ACK_COALESCE_MS`) or before the next read.
   */
  count?: number;
}

// Moves every message of the pending list back to the head of the queue, oldest first in line.
const RELEASE_SCRIPT = `local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end
return n`;

// The same, then removes the pending list from the topic's registry (KEYS[3]) and drops its
// acknowledgement mark (KEYS[4]): in one step, so that no pending list holding messages is ever
// missing from the registry.
const HAND_BACK_SCRIPT = `local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end
redis.call('HDEL', KEYS[3], KEYS[1])
redis.call('DEL', KEYS[4])
return n`;

// Acknowledgement number ARGV[1] of the pending list KEYS[1], applied at most once: KEYS[2] holds
// the number of the last one applied. ioredis sends a command again when the connection was cut
// before its reply came (autoResendUnfulfilledCommands), also when Redis had already run it; an
// RPOP run twice removes the message that the next read had moved in (lost for good). ARGV[2]:
// 'R' or 'L' pops ARGV[3] messages from that end, 'V' removes each of ARGV[3..] by value.
// EVAL, not EVALSHA: the NOSCRIPT retry of a fresh server would run behind the read sent after it.
const ACK_SCRIPT = `local n = tonumber(ARGV[1])
if n <= tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
redis.call('SET', KEYS[2], n)
if ARGV[2] == 'R' then redis.call('RPOP', KEYS[1], ARGV[3])
elseif ARGV[2] == 'L' then redis.call('LPOP', KEYS[1], ARGV[3])
else for i = 3, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end end
return 1`;

/**
 * The list shim's read script: moves up to ARGV[1] messages from the head of the queue (KEYS[1])
 * to the pending list (KEYS[2]) atomically, without blocking, and returns them. Exported through
 * `@proxystream/shim-redis/testing` as `QUEUE_TAKE_SCRIPT` for the bench's raw contender.
 */
export const TAKE_SCRIPT = `local out = {}
for i = 1, tonumber(ARGV[1]) do
  local m = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not m then break end
  out[i] = m
end
return out`;

// Connection name of a live subscriber: its pending list is not an orphan while the name is listed.
const CONNECTION_PREFIX = 'proxystream-queue:';

/** Name of the pending list of one subscriber: in the topic's hash slot, so that LMOVE works on a cluster. */
export function pendingListKey(topic: string, subscriberId: string): string {
  return `{${topic}}:pending:${subscriberId}`;
}

/**
 * On a cluster, CLIENT LIST shows the connections of one node only, and a subscriber reconnects
 * to a new master only when it next sends a command: liveness is a key of the subscriber's own
 * instead, `<pendingKey>:alive`, set with this time to live and refreshed every
 * {@link CLUSTER_HEARTBEAT_MS}. Long enough to outlast a failover (a few seconds).
 */
const CLUSTER_LIVENESS_MS = 10_000;

/** How often a subscriber on a cluster refreshes its liveness key and looks for orphans. */
const CLUSTER_HEARTBEAT_MS = 2_000;

/** Name of a subscriber's liveness key on a cluster (in the topic's slot). */
function livenessKey(pendingKey: string): string {
  return `${pendingKey}:alive`;
}

/** Name of the key holding the number of the last acknowledgement applied to `pendingKey`. */
function ackMarkKey(pendingKey: string): string {
  return `${pendingKey}:acked`;
}

/**
 * Name of the registry of a topic's pending lists: a hash from each subscriber's
 * {@link pendingListKey} to the connection name of the subscriber that owns it. A subscriber adds
 * itself before its first read and removes itself on close; a new subscriber hands back the
 * lists whose owner's connection is gone, so it reads this hash instead of scanning the keyspace.
 */
export function pendingRegistryKey(topic: string): string {
  return `{${topic}}:pending-lists`;
}

/**
 * Takes messages from a Redis list, competing with the other subscribers of the topic: each
 * message goes to one of them.
 *
 * A message is moved atomically (`BLMOVE`) from the topic's list to the subscriber's pending list
 * ({@link pendingListKey}) when the caller asks for it, one at a time (or up to `count`), and removed from there when
 * the caller asks for the next one or calls {@link ack}. Closing the subscriber (or aborting, or
 * `break`) moves what is still pending back to the head of the queue, so nothing read is lost.
 * A process that dies without closing leaves its pending messages in its pending list; the next
 * subscriber of the topic to start hands them back to the head of the queue. It finds them in
 * the topic's registry ({@link pendingRegistryKey}), where every subscriber enters its pending
 * list and connection name before its first read, and checks with `CLIENT LIST` which owners'
 * connections are gone: the cost of a start grows with the topic's subscribers, not with the
 * size of the keyspace. Acknowledgements are numbered and applied at most once, so a command that
 * ioredis sends again after a reconnect (its reply was cut, e.g. by a Redis restart) cannot remove
 * a message it was not meant for.
 *
 * @example
 * ```ts
 * const worker = await RedisQueueSubscriber.create('jobs');
 * for await (const job of worker) await run(job); // each job acknowledged when the next is asked for
 * ```
 */
export class RedisQueueSubscriber extends PullSubscriber {
  /**
   * `{ system: 'redis' }`. No `group`: the list itself is the group of competing consumers, and
   * the `group` option is ignored, so a name would only mislead.
   */
  readonly messaging: MessagingAttributes = REDIS_MESSAGING;
  readonly #pending: string;
  readonly #ackMark: string;
  readonly #registry: string;
  readonly #connectionName: string;
  readonly #blockSeconds: string;
  readonly #count: number;
  #counter = 0;
  /** Number of the last acknowledgement sent ({@link ACK_SCRIPT} applies each at most once). */
  #acknowledgements = 0;
  /** Set when the connection is lost: look in the pending list for messages a lost reply stranded there. */
  #recover = false;
  /**
   * Acknowledge by value (LREM) until everything held is acknowledged: set when the connection is
   * lost, after which a stranded message may stand anywhere in the pending list.
   */
  #exactAcks = false;
  /** On a cluster: the heartbeat that keeps this subscriber's liveness key. */
  #heartbeatTimer: NodeJS.Timeout | undefined;

  private constructor(
    topic: string,
    options: RedisQueueSubscriberOptions,
    blockMs: number,
    count: number,
  ) {
    const id = randomUUID();
    const connectionName = CONNECTION_PREFIX + id;
    super('Redis queue subscriber', topic, options, blockMs, { connectionName });
    this.#connectionName = connectionName;
    this.#pending = pendingListKey(topic, id);
    this.#ackMark = ackMarkKey(this.#pending);
    this.#registry = pendingRegistryKey(topic);
    this.#blockSeconds = (this.blockMs / 1000).toFixed(3);
    this.#count = count;
  }

  /**
   * Opens a subscriber of the list `topic`; resolves once connected.
   * @throws {@link InvalidTopicError} for a topic the Redis shims do not accept.
   * @throws {@link InvalidArgumentError} for `count` or `blockMs` not a positive integer.
   * @throws {@link AbortedError} when `options.signal` is aborted before the subscriber is
   * connected (nothing stays open).
   * @throws {@link BrokerError} when Redis cannot be reached.
   */
  static async create(
    topic: string,
    options: RedisQueueSubscriberOptions = {},
  ): Promise<RedisQueueSubscriber> {
    throwIfAborted(options.signal);
    assertValidTopic(topic);
    const blockMs = positiveInteger(options.blockMs, 'blockMs', 100);
    const count = positiveInteger(options.count, 'count', 1);
    const subscriber = new RedisQueueSubscriber(topic, options, blockMs, count);
    try {
      await subscriber.client.ping();
    } catch (error) {
      await subscriber.failStart(error, options.signal);
    }
    await subscriber.#register().catch(() => undefined);
    await subscriber.abortedStart(options.signal);
    return subscriber;
  }

  /**
   * Enters this subscriber's pending list in the topic's registry (before any read can fill it),
   * again after every reconnection (a starting subscriber may have taken this one for dead while
   * it was away), then hands back the orphans. On a cluster, through a liveness key refreshed by
   * a heartbeat instead (see {@link CLUSTER_LIVENESS_MS}).
   */
  async #register(): Promise<void> {
    this.onConnectionLost(this.#connectionLost);
    if (this.onCluster) {
      await this.#heartbeat();
      this.#heartbeatTimer = setInterval(() => {
        this.#heartbeat().catch(() => undefined);
      }, CLUSTER_HEARTBEAT_MS);
      this.#heartbeatTimer.unref();
      return;
    }
    const client = this.client as Redis;
    await client.hset(this.#registry, this.#pending, this.#connectionName);
    client.on('ready', () => {
      if (!this.closed) {
        client.hset(this.#registry, this.#pending, this.#connectionName).catch(() => undefined);
      }
    });
    await this.#handBackOrphans(client);
  }

  /**
   * A connection of this subscriber was lost: a read whose reply it cut may have left a message in
   * the pending list. From the moment it is lost, not from the reconnect: an acknowledgement made
   * in between waits in the client's queue and runs after the reconnect, when that stranded
   * message may stand at the end of the pending list that an end-pop would remove.
   */
  readonly #connectionLost = (): void => {
    if (!this.closed) {
      this.#recover = true;
      this.#exactAcks = true;
    }
  };

  /**
   * On a cluster: refreshes this subscriber's liveness key, then its registry entry (in that
   * order, so that a subscriber looking for orphans never sees the entry without the key), and
   * hands back the pending lists whose owner's liveness key expired. Runs every
   * {@link CLUSTER_HEARTBEAT_MS}, so an orphan is handed back within about
   * {@link CLUSTER_LIVENESS_MS} of its owner's death even when no subscriber starts.
   */
  async #heartbeat(): Promise<void> {
    if (this.closed) return;
    const client = this.client;
    await client.set(livenessKey(this.#pending), this.#connectionName, 'PX', CLUSTER_LIVENESS_MS);
    await client.hset(this.#registry, this.#pending, this.#connectionName);
    const owners = await client.hgetall(this.#registry);
    for (const key of Object.keys(owners)) {
      if (key === this.#pending || this.closed) continue;
      if ((await client.exists(livenessKey(key))) === 1) continue;
      await client.eval(HAND_BACK_SCRIPT, 4, key, this.topic, this.#registry, ackMarkKey(key));
    }
  }

  /**
   * Moves the pending messages of subscribers that died without closing (their connection is gone
   * from CLIENT LIST) back to the head of the queue, and removes them from the registry. Best
   * effort: nothing is handed back where CLIENT LIST is not allowed.
   */
  async #handBackOrphans(client: Redis): Promise<void> {
    // The registry first: an owner entered after this read is live, and CLIENT LIST shows it.
    const owners = await client.hgetall(this.#registry);
    const others = Object.entries(owners).filter(([key]) => key !== this.#pending);
    if (others.length === 0) return;
    const live = new Set<string>();
    for (const match of String(await client.client('LIST')).matchAll(/ name=(\S+)/g)) {
      live.add(match[1]!);
    }
    for (const [key, owner] of others) {
      if (!live.has(owner)) {
        await client.eval(HAND_BACK_SCRIPT, 4, key, this.topic, this.#registry, ackMarkKey(key));
      }
    }
  }

  /**
   * A message whose read reply a lost connection cut stays in this subscriber's pending list and
   * is delivered on the first read after the reconnect: at once, so `0`. `StreamConsumer` then
   * waits only its margin for a batch that went missing this way before it reports it.
   */
  get redeliveryMs(): number {
    return 0;
  }

  /** Key of this subscriber's pending list. */
  get pendingKey(): string {
    return this.#pending;
  }

  protected async fetch(): Promise<PulledMessage[]> {
    if (this.#recover) {
      this.#recover = false;
      const stranded = await this.#stranded();
      if (stranded.length > 0) return stranded;
    }
    const read = await this.#read();
    if (!this.#recover) return read;
    // The connection was cut during the read, so the read may have run twice (sent again by
    // ioredis): the first run's message stands in the pending list before this one. Deliver the
    // pending list in its order instead, so that no message comes after one read later.
    this.#recover = false;
    return this.#stranded();
  }

  async #read(): Promise<PulledMessage[]> {
    if (this.#count > 1) {
      const taken = (await this.client.callBuffer(
        'EVAL',
        TAKE_SCRIPT,
        2,
        this.topic,
        this.#pending,
        this.#count,
      )) as Buffer[];
      if (taken.length > 0) return taken.map((data) => ({ id: String(++this.#counter), data }));
    }
    const data = (await this.client.callBuffer(
      'BLMOVE',
      this.topic,
      this.#pending,
      'LEFT',
      'RIGHT',
      this.#blockSeconds,
    )) as Buffer | null;
    if (data === null) return [];
    this.#counter++;
    return [{ id: String(this.#counter), data }];
  }

  /**
   * The messages in this subscriber's pending list that it does not hold: moved there by a read
   * whose reply a lost connection cut. They are delivered now instead of waiting for `close()`
   * (or a crash) to hand them back. Compared by content: equal bytes are the same to the reader.
   */
  async #stranded(): Promise<PulledMessage[]> {
    // An acknowledgement still on its way would make its message look stranded.
    await this.acknowledgementsSettled();
    const listed = (await this.client.callBuffer('LRANGE', this.#pending, 0, -1)) as Buffer[];
    const held = [...this.heldMessages()];
    if (listed.length <= held.length) return [];
    const stranded: PulledMessage[] = [];
    for (const data of listed) {
      const match = held.findIndex((message) => message.data.equals(data));
      if (match >= 0) held.splice(match, 1);
      else stranded.push({ id: String(++this.#counter), data });
    }
    // Delivered after messages that stand behind them in the list: acknowledge by value.
    if (stranded.length > 0) this.#exactAcks = true;
    return stranded;
  }

  protected acknowledge(messages: readonly PulledMessage[], allHeld: boolean): Promise<unknown> {
    const number = ++this.#acknowledgements;
    // The same numbered acknowledgement each time it is retried: applied at most once.
    if (this.#exactAcks) {
      if (allHeld) this.#exactAcks = false;
      const values = messages.map((message) => message.data);
      return this.retried(() =>
        this.client.eval(ACK_SCRIPT, 2, this.#pending, this.#ackMark, number, 'V', ...values),
      );
    }
    // Pending holds the held messages oldest first. When all of them are acknowledged, pop from
    // the right: a message a lost reply left behind (further left) then stays to be handed back.
    const end = allHeld ? 'R' : 'L';
    return this.retried(() =>
      this.client.eval(ACK_SCRIPT, 2, this.#pending, this.#ackMark, number, end, messages.length),
    );
  }

  protected handBack(): Promise<unknown> {
    return this.retried(() => this.client.eval(RELEASE_SCRIPT, 2, this.#pending, this.topic));
  }

  protected override async finish(): Promise<void> {
    clearInterval(this.#heartbeatTimer);
    // A message whose BLMOVE reply was lost may still sit in pending: hand it back too, and leave
    // the registry.
    if (this.onCluster) await this.client.del(livenessKey(this.#pending));
    await this.client.eval(
      HAND_BACK_SCRIPT,
      4,
      this.#pending,
      this.topic,
      this.#registry,
      this.#ackMark,
    );
  }
}
