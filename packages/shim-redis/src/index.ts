export {
  PERSISTENT_MAX_MESSAGE_SIZE,
  PUBSUB_MAX_MESSAGE_SIZE,
  redisPubSubCapabilities,
  redisQueueCapabilities,
  redisStreamsCapabilities,
} from './capabilities.js';
export { DEFAULT_REDIS_URL, type RedisClient, type RedisConnection } from './connection.js';
export { DEFAULT_FAILOVER_BUDGET_MS } from './failover.js';
export { RedisPubSubPublisher, type RedisPubSubPublisherOptions } from './pubsub-publisher.js';
export { RedisPubSubSubscriber, type RedisPubSubSubscriberOptions } from './pubsub-subscriber.js';
export { ACK_COALESCE_MS, type RedisPullSubscriberOptions } from './pull-subscriber.js';
export { RedisQueuePublisher, type RedisQueuePublisherOptions } from './queue-publisher.js';
export {
  pendingListKey,
  RedisQueueSubscriber,
  type RedisQueueSubscriberOptions,
} from './queue-subscriber.js';
export type { ShardedNode } from './sharded-channel.js';
export {
  REDIS_STORE_KIND,
  RedisStore,
  type RedisStoreOptions,
  STORE_MAX_RETRIES_PER_REQUEST,
} from './store.js';
export { RedisStoreFactory, type RedisStoreFactoryOptions } from './store-factory.js';
export {
  RedisStreamsPublisher,
  type RedisStreamsPublisherOptions,
  STREAM_DATA_FIELD,
} from './streams-publisher.js';
export {
  RedisStreamsSubscriber,
  type RedisStreamsSubscriberOptions,
} from './streams-subscriber.js';
export { assertValidTopic, MAX_TOPIC_BYTES } from './topic.js';
export type { RedisPublisherOptions } from './windowed-publisher.js';
