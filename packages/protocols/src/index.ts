export type { Capabilities, SlowConsumerBehaviour } from './capabilities.js';
export {
  AbortedError,
  BrokerError,
  ClosedError,
  CloseIncompleteError,
  DecodeError,
  type ErrorCode,
  InvalidArgumentError,
  InvalidStoreKeyError,
  InvalidTopicError,
  MessagesLostError,
  MessageTooLargeError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  ProxyStreamError,
  type ProxyStreamErrorOptions,
  SendRefusedError,
  SequenceGapError,
  STORE_KEY_EXCERPT_LENGTH,
  StoreError,
  StoreFullError,
  type StoreKeyExcerpt,
  StoreNotAllowedError,
  StreamIdleError,
  storeKeyExcerpt,
  TimeoutError,
  TopicClosedError,
  type UnsentObject,
} from './errors.js';
export type {
  EndOfStreamEvent,
  EventBatch,
  InlineBody,
  JsonValue,
  LiveBody,
  Metadata,
  NewObjectEvent,
  ObjectBody,
  StoreConfig,
  StoredBody,
  StreamEvent,
  TraceContext,
} from './events.js';
export type { Filter } from './filter.js';
export {
  eventSubscriberBrand,
  isAcknowledgingSubscriber,
  isEventPublisher,
  isEventSubscriber,
  isPublisher,
  isSubscriber,
} from './guards.js';
export { throwIfAborted } from './kit/abort.js';
export { assertMessageSize } from './limits.js';
export { MessageQueue, type MessageQueueOptions } from './message-queue.js';
export type {
  AcknowledgingSubscriber,
  EventPublisher,
  EventSubscriber,
  MessagingAttributes,
  Publisher,
  PublishOptions,
  SubscribeOptions,
  Subscriber,
} from './messaging.js';
export type { Serializer } from './serializer.js';
export type { PutOptions, Store, StoreFactory } from './store.js';
