export { DEFAULT_MAX_MESSAGE_SIZE, KAFKA_CAPABILITIES, kafkaCapabilities } from './capabilities.js';
export { quietLogCreator } from './logging.js';
export {
  DEFAULT_BROKERS,
  type KafkaConnectionOptions,
  type KafkaConnectionSettings,
  type TopicSettings,
} from './options.js';
export {
  type KafkaCompression,
  KafkaPublisher,
  type KafkaPublisherOptions,
  type KafkaSendOptions,
} from './publisher.js';
export { type KafkaStart, KafkaSubscriber, type KafkaSubscriberOptions } from './subscriber.js';
export { assertValidTopic, createKafkaTopics, MAX_TOPIC_LENGTH } from './topic.js';
