import type {
  EventBatch,
  Metadata,
  Publisher,
  SequenceGapError,
  Store,
  StoreFactory,
  Subscriber,
} from '@proxystream/protocols';

/** The producer side of `@proxystream/stream` the contract drives: `StreamProducer`. */
export interface ContractProducer {
  send(topic: string, object: unknown, options?: { metadata?: Metadata }): Promise<void>;
  close(options?: {
    topics?: Iterable<string>;
    timeoutMs?: number;
    stores?: boolean;
  }): Promise<void>;
}

/** The consumer side of `@proxystream/stream` the contract drives: `StreamConsumer`. */
export interface ContractConsumer {
  /** The next object (a stored one resolved), `done` at the end of every topic. */
  nextObject(): Promise<IteratorResult<unknown, unknown>>;
  close(options?: { timeoutMs?: number; stores?: boolean }): Promise<void>;
}

/** The options of `StreamConsumer` the contract sets. */
export interface ContractConsumerOptions {
  topics?: readonly string[];
  onGap?: (gap: SequenceGapError) => void;
  stores?: readonly StoreFactory[];
  lateBatchWaitMs?: number;
}

/** The options of `StreamProducer` the contract sets. */
export interface ContractProducerOptions {
  batchSize?: number;
  maxBatchesInFlight?: number;
  defaultStore?: Store;
}

/**
 * What the contract needs of `@proxystream/stream`, passed in as the module itself
 * (`import * as stream from '@proxystream/stream'`): this package depends on protocols only,
 * since the stream package's own tests use it.
 */
export interface StreamModule {
  StreamProducer: new (publisher: Publisher, options?: ContractProducerOptions) => ContractProducer;
  StreamConsumer: new (
    subscriber: Subscriber,
    options?: ContractConsumerOptions,
  ) => ContractConsumer;
  /** The wire encoder, for the bad-input cases' valid envelopes. */
  encodeBatch(batch: EventBatch): Uint8Array;
  /** The wire decoder, for reading a subscriber's messages without a consumer. */
  decodeBatch(message: Uint8Array): EventBatch;
  /** The serializer the producer uses by default. */
  defaultSerializer: { deserialize(bytes: Uint8Array): unknown };
  /** The default serializer's marker, for a payload it must refuse. */
  SERIALIZER_MARKER: Uint8Array;
  /** The default serializer's version, written after the marker. */
  SERIALIZER_VERSION: number;
  /** A store in a local directory (`FileStore.create(options)`, or its constructor). */
  FileStore:
    | { create(options: { directory: string }): Promise<Store> }
    | (new (options: {
        directory: string;
      }) => Store);
  /** The factory that reopens file stores under allowed roots. */
  FileStoreFactory: new (options: {
    allowedRoots: readonly string[];
  }) => StoreFactory;
}

/** Opens a file store in `directory` with whichever factory the stream module offers. */
export async function openFileStore(stream: StreamModule, directory: string): Promise<Store> {
  const { FileStore } = stream;
  if ('create' in FileStore && typeof FileStore.create === 'function') {
    return FileStore.create({ directory });
  }
  return new (FileStore as new (options: { directory: string }) => Store)({ directory });
}
