import type { Publisher, Subscriber } from '@proxystream/protocols';
import {
  type RedisConnection,
  RedisPubSubPublisher,
  RedisPubSubSubscriber,
  RedisQueuePublisher,
  RedisQueueSubscriber,
  RedisStreamsPublisher,
  RedisStreamsSubscriber,
} from '../src/index.js';

/**
 * One of the three Redis messaging shims, opened on a given connection (a client or settings,
 * TLS and credentials included), for the cases a descriptor cannot express: it opens its shims
 * on the `REDIS_URL` of an environment only.
 */
export interface MessagingShim {
  /** How the test names say it: `pub/sub`, `list queue`, `streams`. */
  name: string;
  publisher(connection: RedisConnection): Promise<Publisher>;
  /** `group` names the Streams consumer group; the other shims ignore it. */
  subscriber(topic: string, connection: RedisConnection, group: string): Promise<Subscriber>;
}

/** The three Redis messaging shims, for cases that every one of them must pass. */
export const messagingShims: readonly MessagingShim[] = [
  {
    name: 'pub/sub',
    publisher: (connection) => RedisPubSubPublisher.create({ connection }),
    subscriber: (topic, connection) => RedisPubSubSubscriber.create(topic, { connection }),
  },
  {
    name: 'list queue',
    publisher: (connection) => RedisQueuePublisher.create({ connection }),
    subscriber: (topic, connection) => RedisQueueSubscriber.create(topic, { connection }),
  },
  {
    name: 'streams',
    publisher: (connection) => RedisStreamsPublisher.create({ connection }),
    subscriber: (topic, connection, group) =>
      RedisStreamsSubscriber.create(topic, { connection, group }),
  },
];
