import type { MessagesLostError } from '@proxystream/protocols';
import { positiveInteger } from '@proxystream/protocols/kit';
import { DEFAULT_MAX_MESSAGE_SIZE } from './capabilities.js';
import { HEADER_LENGTH } from './framing.js';
import { highWaterMark, type ZmqEndpointOptions } from './options.js';
import { MAX_TOPIC_LENGTH } from './topic.js';

/** Options shared by {@link ZmqSubscriber.create} and {@link ZmqPullSubscriber.create}. */
export interface ZmqReceiverOptions extends ZmqEndpointOptions {
  /** Already aborted: `create` rejects with `AbortedError`, binding nothing. Later: ends the iteration like `close()`. */
  signal?: AbortSignal;
  /** Messages read ahead of the caller. Default 1024. */
  maxBufferedMessages?: number;
  /** Message bytes read ahead of the caller. Default 16 MiB (one larger message is still taken, alone). */
  maxBufferedBytes?: number;
  /** ZeroMQ's receive high-water mark (`ZMQ_RCVHWM`): messages queued per peer. Default 1000. */
  receiveHighWaterMark?: number;
  /**
   * The kernel's receive buffer of each connection (`ZMQ_RCVBUF`, bytes). Default: the
   * system's; on a PULL socket, a small one makes the pusher wait sooner.
   */
  receiveBufferSize?: number;
  /**
   * Largest message taken, in bytes; ZeroMQ (`ZMQ_MAXMSGSIZE`) disconnects a peer that sends a
   * larger one, so it cannot fill memory. Default 8 MiB, as the publishers.
   */
  maxMessageSize?: number;
  /** Called once when drops begin (see `LossReporting`); `next()` still rejects where they happened. */
  onLoss?: (error: MessagesLostError) => void;
}

/** Checked receiver settings. */
export interface ReceiverSettings {
  readonly maxBufferedMessages: number;
  readonly maxBufferedBytes: number;
  readonly receiveHighWaterMark: number;
  readonly receiveBufferSize: number;
  /** ZMQ_MAXMSGSIZE: applies to each part, so it also leaves room for topic and header. */
  readonly maxFrameSize: number;
}

/** Checks the options every receiver shares. Throws `InvalidArgumentError`. */
export function receiverSettings(options: ZmqReceiverOptions): ReceiverSettings {
  const maxMessageSize = positiveInteger(
    options.maxMessageSize,
    'maxMessageSize',
    DEFAULT_MAX_MESSAGE_SIZE,
  );
  return {
    maxBufferedMessages: positiveInteger(options.maxBufferedMessages, 'maxBufferedMessages', 1024),
    maxBufferedBytes: positiveInteger(
      options.maxBufferedBytes,
      'maxBufferedBytes',
      16 * 1024 * 1024,
    ),
    receiveHighWaterMark: highWaterMark(options.receiveHighWaterMark, 'receiveHighWaterMark'),
    receiveBufferSize: positiveInteger(options.receiveBufferSize, 'receiveBufferSize', -1),
    maxFrameSize: maxMessageSize + MAX_TOPIC_LENGTH + 1 + HEADER_LENGTH,
  };
}
