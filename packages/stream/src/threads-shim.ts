/** The worker-threads shim's public surface, re-exported by the package index. */
export {
  ThreadsBroker,
  type ThreadsBrokerHandle,
  type ThreadsConnection,
} from './threads-broker.js';
export { ThreadsPublisher, type ThreadsPublisherOptions } from './threads-publisher.js';
export { ThreadsSubscriber, type ThreadsSubscriberOptions } from './threads-subscriber.js';
export { assertValidTopic, threadsCapabilities } from './threads-topic.js';
