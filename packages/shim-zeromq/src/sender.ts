import {
  AbortedError,
  assertMessageSize,
  BrokerError,
  type Capabilities,
  ClosedError,
  type MessagingAttributes,
  type Publisher,
  type PublishOptions,
} from '@proxystream/protocols';
import {
  nonNegative,
  positiveInteger,
  settledWithin,
  throwIfAborted,
} from '@proxystream/protocols/kit';
import type { Socket, Writable } from 'zeromq';
import { DEFAULT_MAX_MESSAGE_SIZE, ZMQ_MESSAGING } from './capabilities.js';
import {
  messageParts,
  newPublisherId,
  type PendingMessage,
  pendingMessage,
  topicFrame,
} from './framing.js';
import { highWaterMark, type ZmqEndpointOptions } from './options.js';
import { assertValidTopic } from './topic.js';

/** Options shared by {@link ZmqPublisher.create} and {@link ZmqPushPublisher.create}. */
export interface ZmqSenderOptions extends ZmqEndpointOptions {
  /** An already aborted signal makes `create` reject with `AbortedError`, binding nothing. */
  signal?: AbortSignal;
  /**
   * ZeroMQ's send high-water mark (`ZMQ_SNDHWM`): messages queued per peer. Beyond it PUB drops
   * (reported by the subscriber) and PUSH makes `send` wait. Default 1000.
   */
  sendHighWaterMark?: number;
  /**
   * The kernel's send buffer of each connection (`ZMQ_SNDBUF`, bytes). Default: the system's
   * (which on Linux grows to megabytes): on a PUSH socket, a small one makes `send` wait sooner.
   */
  sendBufferSize?: number;
  /** Largest message accepted, in bytes. Default {@link DEFAULT_MAX_MESSAGE_SIZE} (8 MiB). */
  maxMessageSize?: number;
  /**
   * Longest wait of `close()`: for the sends already accepted to be handed to ZeroMQ, then for
   * ZeroMQ to write out what it queued (its linger). Default 2 000; 0 drops what is queued.
   */
  closeTimeoutMs?: number;
}

/** Options of one `send`. */
export interface ZmqSendOptions extends PublishOptions {
  /** Already aborted: `send` rejects with `AbortedError` and sends nothing; aborted while the send waits its turn: rejects the same way. */
  signal?: AbortSignal;
}

interface PendingSend {
  readonly topic: string;
  readonly message: PendingMessage;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  aborted: boolean;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

/** Settings of a sender, checked before any socket opens. */
export interface SenderSettings {
  readonly sendHighWaterMark: number;
  readonly sendBufferSize: number;
  readonly maxMessageSize: number;
  readonly closeTimeoutMs: number;
}

/** Checks the options every sender shares. Throws `InvalidArgumentError`. */
export function senderSettings(options: ZmqSenderOptions): SenderSettings {
  return {
    sendHighWaterMark: highWaterMark(options.sendHighWaterMark, 'sendHighWaterMark'),
    sendBufferSize: positiveInteger(options.sendBufferSize, 'sendBufferSize', -1),
    maxMessageSize: positiveInteger(
      options.maxMessageSize,
      'maxMessageSize',
      DEFAULT_MAX_MESSAGE_SIZE,
    ),
    closeTimeoutMs: nonNegative(options.closeTimeoutMs, 'closeTimeoutMs', 2_000),
  };
}

/**
 * What {@link ZmqPublisher} and {@link ZmqPushPublisher} share: the framing (topic, publisher id
 * and sequence number per topic), one send at a time on the socket (zeromq allows no more) in
 * call order, and a bounded close. Not exported from the package.
 */
export abstract class ZmqSender implements Publisher, AsyncDisposable {
  /** What this publisher guarantees (its `maxMessageSize` included). */
  readonly capabilities: Capabilities;
  /** `{ system: 'zeromq' }`, for traces and metrics. */
  readonly messaging: MessagingAttributes = ZMQ_MESSAGING;
  /** The endpoints the socket is bound to (system-chosen ports filled in) and connected to. */
  readonly endpoints: readonly string[];
  readonly #socket: Socket & Writable;
  readonly #settings: SenderSettings;
  readonly #id = newPublisherId();
  readonly #sequences = new Map<string, number>();
  readonly #frames = new Map<string, Buffer>();
  readonly #queue: PendingSend[] = [];
  #writing = false;
  #idle: Array<() => void> = [];
  #closing = false;
  #closed: Promise<void> | undefined;

  protected constructor(
    socket: Socket & Writable,
    endpoints: readonly string[],
    settings: SenderSettings,
    capabilities: Capabilities,
  ) {
    this.#socket = socket;
    this.endpoints = Object.freeze([...endpoints]);
    this.#settings = settings;
    this.capabilities = capabilities;
  }

  /**
   * Sends `message` to `topic`. Resolves once ZeroMQ queued it (the message is copied first, so
   * the caller may reuse its buffer at once). Sends of one publisher go out in call order.
   * @throws `InvalidTopicError`, `MessageTooLargeError`, `AbortedError`, `ClosedError`.
   */
  send(topic: string, message: Uint8Array, options: ZmqSendOptions = {}): Promise<void> {
    try {
      if (this.#closing) throw new ClosedError('the ZeroMQ publisher');
      assertValidTopic(topic);
      assertMessageSize(message, this.#settings.maxMessageSize);
      throwIfAborted(options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
    // Written on a later tick: a copy, unless the caller handed the message over.
    const held = pendingMessage(this.#frameOf(topic), message, options.owned === true);
    return new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const pending: PendingSend = {
        topic,
        message: held,
        resolve,
        reject,
        aborted: false,
        signal,
        onAbort:
          signal === undefined
            ? undefined
            : () => {
                pending.aborted = true;
                reject(new AbortedError('send aborted before ZeroMQ queued the message'));
              },
      };
      if (pending.onAbort !== undefined)
        signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.#queue.push(pending);
      if (!this.#writing) void this.#write();
    });
  }

  /**
   * Waits (at most `closeTimeoutMs`) for accepted sends to reach ZeroMQ and for ZeroMQ to write
   * them out, then closes the socket; sends still waiting reject with `ClosedError`. Safe to
   * call twice.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** `await using publisher = await ZmqPublisher.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    const started = Date.now();
    const timeout = this.#settings.closeTimeoutMs;
    const drained = await settledWithin(this.#whenIdle(), timeout);
    for (const pending of this.#queue.splice(0)) {
      this.#finish(pending);
      pending.reject(
        new ClosedError('the ZeroMQ publisher (it closed before this message was queued)'),
      );
    }
    // ZeroMQ writes out what it queued for at most the linger, in the background: bounded.
    this.#socket.linger = drained
      ? Math.max(0, Math.min(timeout - (Date.now() - started), timeout))
      : 0;
    this.#socket.close();
  }

  #whenIdle(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #write(): Promise<void> {
    this.#writing = true;
    const socket = this.#socket;
    try {
      for (;;) {
        const pending = this.#queue.shift();
        if (pending === undefined) break;
        if (pending.aborted) continue;
        this.#finish(pending);
        const topic = pending.topic;
        // Numbered when written, so a send given up before never leaves a false gap.
        const sequence = this.#sequences.get(topic) ?? 0;
        this.#sequences.set(topic, (sequence + 1) >>> 0);
        try {
          await socket.send(messageParts(pending.message, this.#id, sequence));
          pending.resolve();
        } catch (error) {
          pending.reject(
            this.#closing || socket.closed
              ? new ClosedError('the ZeroMQ publisher (it closed before this message was queued)', {
                  cause: error,
                })
              : new BrokerError(
                  `ZeroMQ send failed: ${error instanceof Error ? error.message : String(error)}`,
                  {
                    cause: error,
                  },
                ),
          );
        }
      }
    } finally {
      this.#writing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  #finish(pending: PendingSend): void {
    if (pending.onAbort !== undefined)
      pending.signal?.removeEventListener('abort', pending.onAbort);
  }

  #frameOf(topic: string): Buffer {
    let frame = this.#frames.get(topic);
    if (frame === undefined) {
      if (this.#frames.size >= 4096) this.#frames.clear();
      frame = topicFrame(topic);
      this.#frames.set(topic, frame);
    }
    return frame;
  }
}
