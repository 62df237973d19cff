export { DEFAULT_MAX_MESSAGE_SIZE, kafkaCapabilities } from './capabilities.js';
export { quietLogCreator } from './logging.js';
export { DEFAULT_BROKERS, type KafkaConnectionOptions, type TopicSettings } from './options.js';
export {
  type KafkaCompression,
  KafkaPublisher,
  type KafkaPublisherOptions,
  type KafkaSendOptions,
} from './publisher.js';
export { KafkaSubscriber, type KafkaSubscriberOptions } from './subscriber.js';
export { assertKafkaTopic, createKafkaTopics, MAX_TOPIC_LENGTH } from './topic.js';
