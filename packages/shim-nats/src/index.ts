export {
  JETSTREAM_CAPABILITIES,
  JETSTREAM_HEADER_RESERVE,
  jetStreamCapabilities,
  NATS_CORE_CAPABILITIES,
  natsCoreCapabilities,
} from './capabilities.js';
export {
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_SERVERS,
  type NatsConnectionOptions,
  type NatsConnectionSettings,
} from './connection.js';
export { NatsPublisher, type NatsPublisherOptions } from './core-publisher.js';
export { NatsSubscriber, type NatsSubscriberOptions } from './core-subscriber.js';
export {
  JetStreamPublisher,
  type JetStreamPublisherOptions,
  type JetStreamSendOptions,
} from './jetstream-publisher.js';
export {
  DEFAULT_STREAM,
  DEFAULT_SUBJECT_PREFIX,
  type EnsureStreamOptions,
  ensureStream,
  type JetStreamStreamOptions,
  type StreamDescription,
  type StreamRetention,
  type StreamSettings,
} from './jetstream-stream.js';
export {
  type JetStreamStart,
  JetStreamSubscriber,
  type JetStreamSubscriberOptions,
} from './jetstream-subscriber.js';
export {
  assertValidBucket,
  NATS_OBJECT_STORE_KIND,
  NatsObjectStore,
  type NatsObjectStoreOptions,
  type ObjectBucketSettings,
} from './object-store.js';
export {
  NatsObjectStoreFactory,
  type NatsObjectStoreFactoryOptions,
} from './object-store-factory.js';
export { assertValidTopic, MAX_TOPIC_LENGTH } from './topic.js';
