import type { Capabilities, MessagingAttributes } from '@proxystream/protocols';

const MiB = 1024 * 1024;

/**
 * Default largest pub/sub message: 16 MiB. Redis disconnects a pub/sub subscriber whose output
 * buffer exceeds 32 MB (`client-output-buffer-limit pubsub 32mb 8mb 60`), so one message near
 * that size would cut off every subscriber; 16 MiB leaves half of the limit for the messages
 * queued behind it. Put larger objects in a store.
 */
export const PUBSUB_MAX_MESSAGE_SIZE = 16 * MiB;

/**
 * Default largest list-queue and stream message: 64 MiB, far below Redis's `proto-max-bulk-len`
 * (512 MB). Each message stays in the server's memory until consumed (lists) or trimmed
 * (streams); put larger objects in a store.
 */
export const PERSISTENT_MAX_MESSAGE_SIZE = 64 * MiB;

/**
 * What every Redis publisher and subscriber tells traces and metrics (`messaging.system`); a
 * Streams subscriber of a group the caller named adds the group.
 */
export const REDIS_MESSAGING: MessagingAttributes = Object.freeze({ system: 'redis' });

/** In-flight window of the list-queue and Streams publishers: 64 commands / 4 MiB. */
export const PERSISTENT_WINDOW = Object.freeze({ count: 64, bytes: 4 * MiB });

/**
 * Redis pub/sub: every subscriber gets every message published while it is subscribed; nothing is
 * stored. A subscriber that falls behind or loses its connection rejects `next()` with
 * `MessagesLostError` once per loss; the stream consumer also sees the gap in sequence numbers.
 */
export const redisPubSubCapabilities: Capabilities = Object.freeze({
  fanOut: true,
  competingConsumers: false,
  persistent: false,
  ordered: true,
  acknowledged: false,
  maxMessageSize: PUBSUB_MAX_MESSAGE_SIZE,
  slowConsumer: 'drops-reported',
});

/**
 * Redis list queue: the list is the group; each message goes to one subscriber, which holds it in
 * a pending list until it asks for the next one (or calls `ack()`); a closed subscriber hands its
 * unacknowledged message back to the head of the queue.
 */
export const redisQueueCapabilities: Capabilities = Object.freeze({
  fanOut: false,
  competingConsumers: true,
  persistent: true,
  ordered: true,
  acknowledged: true,
  maxMessageSize: PERSISTENT_MAX_MESSAGE_SIZE,
  slowConsumer: 'broker-buffers',
});

/**
 * Redis Streams with consumer groups: members of a group share the messages; subscribers without
 * a group each get a private group (fan-out). Messages are acknowledged (`XACK`) when the next one
 * is asked for; those of a dead subscriber are claimed (`XAUTOCLAIM`) by another after an idle time.
 */
export const redisStreamsCapabilities: Capabilities = Object.freeze({
  fanOut: true,
  competingConsumers: true,
  persistent: true,
  ordered: true,
  acknowledged: true,
  maxMessageSize: PERSISTENT_MAX_MESSAGE_SIZE,
  slowConsumer: 'broker-buffers',
});
