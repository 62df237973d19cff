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

/** One of the three Redis messaging shims, opened on a given connection. */
export interface MessagingShim {
  /** How the test names say it: `pub/sub`, `list queue`, `streams`. */
  name: string;
  publisher(connection: RedisConnection): Publisher;
  /** `group` names the Streams consumer group; the other shims ignore it. */
  subscriber(topic: string, connection: RedisConnection, group: string): Promise<Subscriber>;
}

/** The three Redis messaging shims, for cases that every one of them must pass. */
export const messagingShims: readonly MessagingShim[] = [
  {
    name: 'pub/sub',
    publisher: (connection) => new RedisPubSubPublisher({ connection }),
    subscriber: (topic, connection) => RedisPubSubSubscriber.create(topic, { connection }),
  },
  {
    name: 'list queue',
    publisher: (connection) => new RedisQueuePublisher({ connection }),
    subscriber: (topic, connection) => RedisQueueSubscriber.create(topic, { connection }),
  },
  {
    name: 'streams',
    publisher: (connection) => new RedisStreamsPublisher({ connection }),
    subscriber: (topic, connection, group) =>
      RedisStreamsSubscriber.create(topic, { connection, group }),
  },
];
