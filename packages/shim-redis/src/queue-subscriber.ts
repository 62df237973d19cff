import { randomUUID } from 'node:crypto';
import {
  type PulledMessage,
  PullSubscriber,
  type RedisPullSubscriberOptions,
} from './pull-subscriber.js';
import { validateTopic } from './topic.js';

/** Options of {@link RedisQueueSubscriber.create}. */
export interface RedisQueueSubscriberOptions extends RedisPullSubscriberOptions {
  /**
   * Accepted for the contract of competing consumers and otherwise ignored: the list is the
   * group, every subscriber of a topic shares its messages.
   */
  group?: string;
}

// Moves every message of the pending list back to the head of the queue, oldest first in line.
const RELEASE_SCRIPT = `local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end
return n`;

/** Name of the pending list of one subscriber: in the topic's hash slot, so that LMOVE works on a cluster. */
export function pendingListKey(topic: string, subscriberId: string): string {
  return `{${topic}}:pending:${subscriberId}`;
}

/**
 * Takes messages from a Redis list, competing with the other subscribers of the topic: each
 * message goes to one of them.
 *
 * A message is moved atomically (`BLMOVE`) from the topic's list to the subscriber's pending list
 * ({@link pendingListKey}) when the caller asks for it, one at a time, and removed from there when
 * the caller asks for the next one or calls {@link ack}. Closing the subscriber (or aborting, or
 * `break`) moves what is still pending back to the head of the queue, so nothing read is lost.
 * A process that dies without closing leaves its one pending message in its pending list.
 *
 * @example
 * ```ts
 * const worker = await RedisQueueSubscriber.create('jobs');
 * for await (const job of worker) await run(job); // each job acknowledged when the next is asked for
 * ```
 */
export class RedisQueueSubscriber extends PullSubscriber {
  readonly #pending: string;
  readonly #blockSeconds: string;
  #counter = 0;

  private constructor(topic: string, options: RedisQueueSubscriberOptions) {
    super('Redis queue subscriber', topic, options);
    this.#pending = pendingListKey(topic, randomUUID());
    this.#blockSeconds = (this.blockMs / 1000).toFixed(3);
  }

  /**
   * Opens a subscriber of the list `topic`; resolves once connected.
   * @throws {@link InvalidTopicError} for a topic the Redis shims do not accept.
   * @throws {@link BrokerError} when Redis cannot be reached.
   */
  static async create(
    topic: string,
    options: RedisQueueSubscriberOptions = {},
  ): Promise<RedisQueueSubscriber> {
    validateTopic(topic);
    const subscriber = new RedisQueueSubscriber(topic, options);
    if (subscriber.closed) {
      await subscriber.close();
      return subscriber;
    }
    try {
      await subscriber.client.ping();
    } catch (error) {
      await subscriber.failStart(error);
    }
    return subscriber;
  }

  /** Key of this subscriber's pending list. */
  get pendingKey(): string {
    return this.#pending;
  }

  protected async fetch(): Promise<PulledMessage[]> {
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

  protected acknowledge(messages: readonly PulledMessage[], allHeld: boolean): Promise<unknown> {
    // Pending holds the held messages oldest first. When all of them are acknowledged, pop from
    // the right: a message a lost reply left behind (further left) then stays to be handed back.
    return this.client.call(allHeld ? 'RPOP' : 'LPOP', this.#pending, messages.length);
  }

  protected release(): Promise<unknown> {
    return this.client.eval(RELEASE_SCRIPT, 2, this.#pending, this.topic);
  }

  protected override async finish(): Promise<void> {
    // A message whose BLMOVE reply was lost may still sit in pending: hand it back too.
    await this.release();
  }
}
