export { defaultSerializer, SERIALIZER_MARKER, SERIALIZER_VERSION } from './default-serializer.js';
export {
  FileStore,
  FileStoreFactory,
  type FileStoreFactoryOptions,
  type FileStoreOptions,
} from './file-store.js';
export {
  allOf,
  anyOf,
  type MetadataPattern,
  type MetadataPredicate,
  metadataMatches,
  not,
  nullFilter,
  type SamplingFilterOptions,
  samplingFilter,
} from './filters.js';
export {
  InProcessBroker,
  type InProcessBrokerOptions,
  inProcessCapabilities,
} from './in-process-broker.js';
export { MemoryStore, MemoryStoreFactory, type MemoryStoreOptions } from './memory-store.js';
export { mergeSubscribers } from './merged-subscriber.js';
export {
  isProxyReference,
  ProxyReference,
  type ProxyReferenceJSON,
  type ProxyReferenceOptions,
  type ProxyReferenceTraceJSON,
  type ReferenceTrace,
  type ResolveOptions,
  type ReviveReferenceOptions,
} from './proxy-reference.js';
export {
  releaseSharedMemory,
  SharedMemoryPool,
  type SharedMemoryPoolHandle,
  type SharedMemoryPoolOptions,
  type SharedMemoryPoolUsage,
  type SharedMemorySizeClass,
} from './shared-memory-pool.js';
export { SharedMemoryStore, type SharedMemoryStoreOptions } from './shared-memory-store.js';
export {
  SharedMemoryStoreFactory,
  type SharedMemoryStoreFactoryOptions,
} from './shared-memory-store-factory.js';
export { StoreCache } from './store-cache.js';
export {
  type ConsumerCloseOptions,
  type DecodeErrorHandling,
  type GapHandling,
  type ItemWithMetadata,
  type ObjectWithMetadata,
  StreamConsumer,
  type StreamConsumerOptions,
} from './stream-consumer.js';
export { InlineItem, type StreamItem, type WithMetadata } from './stream-item.js';
export {
  type FlushOptions,
  type ProducerCloseOptions,
  type SendOptions,
  StreamProducer,
  type StreamProducerOptions,
} from './stream-producer.js';
export type { TelemetryOptions } from './telemetry-options.js';
export * from './threads-shim.js';
export { decodeBatch, encodeBatch, WIRE_FORMAT_VERSION, WIRE_MAGIC } from './wire-codec.js';
