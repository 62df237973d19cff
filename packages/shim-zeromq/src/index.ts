export {
  DEFAULT_MAX_MESSAGE_SIZE,
  ZMQ_PUBSUB_CAPABILITIES,
  ZMQ_PUSHPULL_CAPABILITIES,
  zmqPubSubCapabilities,
  zmqPushPullCapabilities,
} from './capabilities.js';
export type { ZmqEndpointOptions } from './options.js';
export { ZmqPublisher, type ZmqPublisherOptions } from './publisher.js';
export { ZmqPullSubscriber, type ZmqPullSubscriberOptions } from './pull-subscriber.js';
export { ZmqPushPublisher, type ZmqPushPublisherOptions } from './push-publisher.js';
export type { ZmqReceiverOptions } from './receiver.js';
export type { ZmqSender, ZmqSenderOptions, ZmqSendOptions } from './sender.js';
export { ZmqSubscriber, type ZmqSubscriberOptions } from './subscriber.js';
export { assertValidTopic, MAX_TOPIC_LENGTH } from './topic.js';
