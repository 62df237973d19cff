import {
  AbortedError,
  assertMessageSize,
  type Capabilities,
  ClosedError,
  type EventBatch,
  type EventPublisher,
  type EventSubscriber,
  eventSubscriberBrand,
  InvalidArgumentError,
  MessageQueue,
  type MessagingAttributes,
  type Publisher,
  type SubscribeOptions,
  type Subscriber,
} from '@proxystream/protocols';
import { positiveInteger } from '@proxystream/protocols/kit';
import { assertLocalTopic } from './local-topic.js';

/** Options of {@link InProcessBroker}. */
export interface InProcessBrokerOptions {
  /**
   * Messages (or event batches) buffered per subscriber before `send` waits for it to read.
   * Default 1024.
   */
  capacity?: number;
  /** Largest byte message accepted by `send`; default `Infinity` (event batches are not measured). */
  maxMessageSize?: number;
}

/** Capabilities of the in-process broker for a given maximum message size. */
export function inProcessCapabilities(maxMessageSize = Number.POSITIVE_INFINITY): Capabilities {
  return {
    fanOut: true,
    competingConsumers: false,
    persistent: false,
    ordered: true,
    acknowledged: false,
    maxMessageSize,
    slowConsumer: 'backpressure',
  };
}

/**
 * What the in-process broker's publishers and subscribers, byte and event ones, tell traces and
 * metrics (`messaging.system`). No group: the broker has none.
 */
const IN_PROCESS_MESSAGING: MessagingAttributes = Object.freeze({
  system: 'proxystream.in-process',
});

/** One topic namespace (bytes or event batches) with its subscriptions and an ordered send chain. */
class Channel<T> {
  readonly #topics = new Map<string, { queues: Set<MessageQueue<T>>; tail?: Promise<void> }>();

  constructor(private readonly capacity: number) {}

  subscribe(topics: readonly string[], signal: AbortSignal | undefined): MessageQueue<T> {
    const queue: MessageQueue<T> = new MessageQueue<T>({
      capacity: this.capacity,
      signal,
      onClose: () => {
        for (const topic of topics) this.#topics.get(topic)?.queues.delete(queue);
      },
    });
    if (queue.isClosed) return queue;
    for (const topic of topics) this.#state(topic).queues.add(queue);
    return queue;
  }

  /** Delivers `item` to every subscriber of `topic`, after every earlier send to the topic. */
  deliver(topic: string, item: T): Promise<void> | undefined {
    const state = this.#topics.get(topic);
    if (state === undefined || state.queues.size === 0) return state?.tail;
    if (state.tail === undefined) {
      let allHaveRoom = true;
      for (const queue of state.queues) if (queue.isFull) allHaveRoom = false;
      if (allHaveRoom) {
        for (const queue of state.queues) queue.push(item);
        return undefined;
      }
    }
    const previous = state.tail ?? Promise.resolve();
    const next = previous.then(async () => {
      for (const queue of [...state.queues]) await queue.pushWait(item);
    });
    state.tail = next;
    void next.then(() => {
      if (state.tail === next) state.tail = undefined;
    });
    return next;
  }

  closeAll(): void {
    for (const state of this.#topics.values()) {
      for (const queue of state.queues) void queue.close();
    }
    this.#topics.clear();
  }

  #state(topic: string) {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      state = { queues: new Set() };
      this.#topics.set(topic, state);
    }
    return state;
  }
}

/** Tracks a client's unfinished sends so that `close()` can wait for them. */
class PendingSends {
  readonly #pending = new Set<Promise<void>>();
  closed = false;

  track(promise: Promise<void>): Promise<void> {
    this.#pending.add(promise);
    void promise.finally(() => this.#pending.delete(promise)).catch(() => {});
    return promise;
  }

  async settle(): Promise<void> {
    this.closed = true;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}

/**
 * A broker inside one process: fan-out, ordered per topic, bounded per-subscriber buffers with
 * backpressure (a subscriber that stops reading makes `send` wait rather than grow memory).
 *
 * Byte publishers copy each message, so the caller may reuse its buffer (not one handed over with
 * `{ owned: true }`, as `StreamProducer` does with its envelopes); event publishers pass
 * {@link EventBatch} objects by reference, without encoding or copying.
 *
 * @example
 * ```ts
 * const broker = new InProcessBroker();
 * const subscriber = await broker.subscriber('frames');
 * await broker.publisher().send('frames', new Uint8Array([1, 2, 3]));
 * for await (const message of subscriber) { console.log(message); break; }
 * ```
 */
export class InProcessBroker {
  /** What this broker guarantees; see {@link Capabilities}. */
  readonly capabilities: Capabilities;
  readonly #bytes: Channel<Uint8Array>;
  readonly #events: Channel<EventBatch>;
  #closed = false;

  /**
   * A new broker, as the constructor makes it; for symmetry with the stores and the shims.
   *
   * @example
   * ```ts
   * await using broker = await InProcessBroker.create({ capacity: 64 });
   * ```
   */
  static async create(options: InProcessBrokerOptions = {}): Promise<InProcessBroker> {
    return new InProcessBroker(options);
  }

  constructor(options: InProcessBrokerOptions = {}) {
    const capacity = positiveInteger(options.capacity, 'capacity', 1024);
    this.capabilities = inProcessCapabilities(options.maxMessageSize);
    this.#bytes = new Channel(capacity);
    this.#events = new Channel(capacity);
  }

  /** A publisher of byte messages. */
  publisher(): Publisher {
    const pending = new PendingSends();
    const limit = this.capabilities.maxMessageSize;
    return {
      messaging: IN_PROCESS_MESSAGING,
      send: async (topic, message, options) => {
        if (pending.closed || this.#closed) throw new ClosedError('in-process publisher');
        assertLocalTopic(topic);
        assertMessageSize(message, limit);
        let delivered = message;
        if (options?.owned !== true) {
          // A plain Uint8Array copy: cheaper to make (and to take views of) than a Buffer's.
          delivered = new Uint8Array(message.byteLength);
          delivered.set(message);
        }
        const delivery = this.#bytes.deliver(topic, delivered);
        if (delivery) await pending.track(delivery);
      },
      close: () => pending.settle(),
      [Symbol.asyncDispose]: () => pending.settle(),
    };
  }

  /** A subscriber of byte messages on `topics`, ready when the promise resolves. */
  async subscriber(
    topics: string | readonly string[],
    options: SubscribeOptions = {},
  ): Promise<Subscriber> {
    const queue = this.#subscribe(this.#bytes, topics, options);
    return Object.assign(queue, { messaging: IN_PROCESS_MESSAGING });
  }

  /** A publisher of event batches, passed to subscribers by reference. */
  eventPublisher(): EventPublisher {
    const pending = new PendingSends();
    return {
      messaging: IN_PROCESS_MESSAGING,
      sendEvents: async (batch) => {
        if (pending.closed || this.#closed) throw new ClosedError('in-process event publisher');
        assertLocalTopic(batch.topic);
        const delivery = this.#events.deliver(batch.topic, batch);
        if (delivery) await pending.track(delivery);
      },
      close: () => pending.settle(),
      [Symbol.asyncDispose]: () => pending.settle(),
    };
  }

  /** A subscriber of event batches on `topics`, ready when the promise resolves. */
  async eventSubscriber(
    topics: string | readonly string[],
    options: SubscribeOptions = {},
  ): Promise<EventSubscriber> {
    const queue = this.#subscribe(this.#events, topics, options);
    return Object.assign(queue, {
      [eventSubscriberBrand]: true as const,
      messaging: IN_PROCESS_MESSAGING,
    });
  }

  /** Closes every subscription; later sends reject with {@link ClosedError}. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#bytes.closeAll();
    this.#events.closeAll();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as {@link close}; lets `await using` close the broker. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #subscribe<T>(
    channel: Channel<T>,
    topics: string | readonly string[],
    options: SubscribeOptions,
  ): MessageQueue<T> {
    if (this.#closed) throw new ClosedError('in-process broker');
    if (options.signal?.aborted) throw new AbortedError('subscribe aborted');
    if (options.group !== undefined) {
      throw new InvalidArgumentError('the in-process broker has no competing consumer groups');
    }
    const list = typeof topics === 'string' ? [topics] : topics;
    if (list.length === 0) throw new InvalidArgumentError('subscribe to at least one topic');
    for (const topic of list) assertLocalTopic(topic);
    return channel.subscribe(list, options.signal);
  }
}
