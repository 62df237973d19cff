import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  BrokerError,
  ClosedError,
  InvalidArgumentError,
  type MessagingAttributes,
  type Subscriber,
} from '@proxystream/protocols';
import {
  positiveInteger,
  positiveNumber,
  QueueSubscriber,
  settledWithin,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import {
  type BrokerNotice,
  connectLink,
  type SubscriberNotice,
  type ThreadsConnection,
} from './threads-broker.js';
import { assertValidTopic, threadsMessaging } from './threads-topic.js';

/** Options of {@link ThreadsSubscriber.create}. */
export interface ThreadsSubscriberOptions {
  /** The broker: the {@link ThreadsBroker} itself in its thread, its handle in another. Never closed by the subscriber. */
  connection: ThreadsConnection;
  /**
   * A group of competing consumers: each message of the topic goes to one member of each group
   * (the next one with room, in turn), besides every subscriber without a group. Default: none.
   */
  group?: string;
  /** Messages the broker may send ahead of the reader (the credit it grants). Default 1 024. */
  maxBufferedMessages?: number;
  /** Bytes the broker may send ahead of the reader (a larger message comes alone). Default 64 MiB. */
  maxBufferedBytes?: number;
  /** How long `create` waits for the broker to answer, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Aborting ends the iteration like `close()`; already aborted, `create` rejects with `AbortedError`. */
  signal?: AbortSignal;
}

const MiB = 1024 * 1024;
/** Longest wait for the broker to confirm a leave; its thread may be blocked or gone. */
const LEAVE_TIMEOUT_MS = 2_000;

/**
 * Subscribes to one topic of a {@link ThreadsBroker} from any thread of its process, over a
 * `MessagePort` of its own; ready when `create` resolves (a message sent after that arrives). The
 * broker sends at most `maxBufferedMessages` / `maxBufferedBytes` ahead of the reader and more as
 * it reads, so a reader that stops makes publishers wait: nothing is dropped. Messages arrive as
 * plain `Uint8Array`s this thread owns.
 *
 * When the broker closes, the messages already received are yielded, then `next()` rejects with
 * `ClosedError`; when the broker's thread exits, with `BrokerError`.
 *
 * @example
 * ```ts
 * await using subscriber = await ThreadsSubscriber.create('frames', { connection: broker });
 * for await (const message of subscriber) console.log(message.byteLength);
 * ```
 */
export class ThreadsSubscriber extends QueueSubscriber<Uint8Array> implements Subscriber {
  /** `{ system: 'proxystream.threads' }`, with `group` for a member of a group. */
  readonly messaging: MessagingAttributes;
  readonly #port: MessagePort;
  readonly #broker: MessagePort;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #reportEvery: number;
  readonly #ready: Promise<void>;
  #onReady: (() => void) | undefined;
  #onGone: ((error: Error) => void) | undefined;
  #took = 0;
  #tookBytes = 0;
  #reportScheduled = false;
  #released = false;
  #connected = false;
  #gone = false;
  #onLeft: (() => void) | undefined;

  /**
   * Connects a subscriber of `topic`; resolves once the broker registered it.
   * @throws {@link InvalidTopicError} for a topic {@link assertValidTopic} rejects.
   * @throws {@link InvalidArgumentError} for an invalid option or connection.
   * @throws {@link ClosedError} when the broker is closed; {@link TimeoutError} when it does not answer.
   * @throws {@link AbortedError} when `signal` is (or becomes) aborted meanwhile.
   */
  static async create(
    topic: string,
    options: ThreadsSubscriberOptions,
  ): Promise<ThreadsSubscriber> {
    assertValidTopic(topic);
    const group = options.group;
    if (group !== undefined && (typeof group !== 'string' || group.length === 0)) {
      throw new InvalidArgumentError('ThreadsSubscriber: group must be a non-empty string');
    }
    const timeoutMs = positiveNumber(options.connectTimeoutMs, 'connectTimeoutMs', 10_000);
    throwIfAborted(options.signal);
    const subscriber = new ThreadsSubscriber(options);
    try {
      await connectLink(
        options.connection,
        {
          k: 'sub',
          port: subscriber.#broker,
          topic,
          group,
          maxMessages: subscriber.#maxMessages,
          maxBytes: subscriber.#maxBytes,
        },
        subscriber.#ready,
        { signal: options.signal, timeoutMs, what: 'ThreadsSubscriber' },
      );
      subscriber.#connected = true;
      throwIfAborted(options.signal);
    } catch (error) {
      await subscriber.close();
      throw error;
    }
    return subscriber;
  }

  private constructor(options: ThreadsSubscriberOptions) {
    const maxMessages = positiveInteger(options.maxBufferedMessages, 'maxBufferedMessages', 1024);
    super({ capacity: maxMessages, signal: options.signal });
    const group = options.group;
    this.messaging =
      group === undefined ? threadsMessaging : Object.freeze({ ...threadsMessaging, group });
    this.#maxMessages = maxMessages;
    this.#maxBytes = positiveInteger(options.maxBufferedBytes, 'maxBufferedBytes', 64 * MiB);
    this.#reportEvery = Math.max(1, Math.floor(maxMessages / 4));
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#broker = port2;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      this.#onGone = reject;
    });
    this.#ready.catch(() => undefined);
    port1.on('message', this.#onMessage);
    port1.on('close', this.#onClose);
  }

  protected taken(item: Uint8Array): Uint8Array {
    this.#took++;
    this.#tookBytes += item.byteLength;
    // Credits go back in bulk: at once after a quarter of the buffer, else at the end of the turn.
    if (this.#took >= this.#reportEvery) this.#report();
    else if (!this.#reportScheduled) {
      this.#reportScheduled = true;
      setImmediate(this.#report);
    }
    return item;
  }

  /**
   * Leaves the broker, then closes the port: once `close()` resolved, the broker sends this
   * subscriber nothing more (a message it had sent and the reader had not taken is dropped).
   */
  protected async release(): Promise<void> {
    this.#released = true;
    if (this.#connected && !this.#gone) {
      const left = new Promise<void>((resolve) => {
        this.#onLeft = resolve;
      });
      this.#port.postMessage({ k: 'leave' } satisfies SubscriberNotice);
      await settledWithin(left, LEAVE_TIMEOUT_MS);
    }
    this.#port.close();
  }

  readonly #report = (): void => {
    this.#reportScheduled = false;
    if (this.#took === 0 || this.#released) return;
    this.#port.postMessage({
      k: 'took',
      n: this.#took,
      b: this.#tookBytes,
    } satisfies SubscriberNotice);
    this.#took = 0;
    this.#tookBytes = 0;
  };

  readonly #onMessage = (message: Uint8Array | BrokerNotice): void => {
    if (message instanceof Uint8Array) {
      this.push(message);
      return;
    }
    if (message.k === 'ready') this.#onReady?.();
    else if (message.k === 'left') this.#onLeft?.();
    else if (message.k === 'bye') this.#end(new ClosedError('ThreadsBroker (closed)'));
  };

  readonly #onClose = (): void => {
    this.#gone = true;
    this.#onLeft?.();
    if (this.#released) return;
    this.#end(
      this.#connected
        ? new BrokerError('the ThreadsBroker went away (its thread exited or closed its port)')
        : new ClosedError('ThreadsBroker (closed, or its thread gone)'),
    );
  };

  #end(error: Error): void {
    this.#gone = true;
    this.#onLeft?.();
    this.#onGone?.(error);
    this.fail(error);
    this.#port.close();
  }
}
