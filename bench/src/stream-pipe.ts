import type {
  EventPublisher,
  EventSubscriber,
  Publisher,
  Subscriber,
} from '@proxystream/protocols';
import { InProcessBroker, StreamConsumer, StreamProducer } from '@proxystream/stream';
import { type Contender, freshTopic, type Pipe, type PipeOptions } from './pipe.js';

/** Runs whose consumer did not end on the end-of-stream event within 1 s (reported by the bench). */
export let endOfStreamMissed = 0;

/** Both ends of one broker for one topic, and how to release what was opened for them. */
export interface Endpoints {
  publisher: Publisher | EventPublisher;
  subscriber: Subscriber | EventSubscriber;
  /** Releases what the factory opened besides the publisher and subscriber (clients, streams). */
  close(): Promise<void>;
}

/** Opens the publisher and a ready subscriber of `topic`. */
export type EndpointFactory = (topic: string) => Promise<Endpoints>;

/**
 * StreamProducer → broker → StreamConsumer with inline objects (no store), `batchSize` = the
 * pipe's batch and `maxBatchesInFlight` = its in-flight count, both passed explicitly (batch 1:
 * forced one-object batches); with {@link PipeOptions.defaultProducer}, the producer's defaults
 * instead. The consumer iterates objects; every received object counts.
 */
export function streamContender(name: string, prefix: string, open: EndpointFactory): Contender {
  return {
    name,
    kind: 'stream',
    async open(options: PipeOptions): Promise<Pipe> {
      const topic = freshTopic(prefix);
      const endpoints = await open(topic);
      // As many batches in flight as the raw contenders keep sends in flight (runner window),
      // or no batching options at all: what a user gets without tuning.
      const producer =
        options.defaultProducer === true
          ? new StreamProducer<Uint8Array>(endpoints.publisher)
          : new StreamProducer<Uint8Array>(endpoints.publisher, {
              batchSize: options.batch,
              maxBatchesInFlight: options.inFlight ?? 1,
            });
      const consumer = new StreamConsumer<Uint8Array>(endpoints.subscriber, { topics: [topic] });
      let received = 0;
      const onItem = options.onItem;
      const loop = (async () => {
        for await (const item of consumer.iterObjects()) {
          received++;
          onItem?.(item);
        }
      })();
      let loopError: unknown;
      loop.catch((error: unknown) => {
        loopError = error;
      });
      return {
        send(data) {
          return producer.send(topic, data, { evict: false });
        },
        finish() {
          return producer.flush();
        },
        get received() {
          if (loopError !== undefined) throw loopError;
          return received;
        },
        async close() {
          // End the topic as a user would, but do not depend on the end-of-stream path for the
          // figures: wait for it briefly, then close the consumer.
          await producer.closeTopics(topic).catch(() => undefined);
          let timer: NodeJS.Timeout | undefined;
          const ended = await Promise.race([
            loop.then(() => true),
            new Promise<boolean>((resolve) => {
              timer = setTimeout(() => resolve(false), 1000);
            }),
          ]).catch(() => false);
          clearTimeout(timer);
          if (!ended) endOfStreamMissed++;
          await producer.close().catch(() => undefined);
          await consumer.close().catch(() => undefined);
          await endpoints.close();
        },
      };
    },
  };
}

/** The in-process broker's event level: batches pass as objects, no encoding, no copy. */
export const streamInProcessEvents: Contender = streamContender(
  'stream · in-process (events)',
  'inproc-ev',
  async (topic) => {
    const broker = new InProcessBroker();
    return {
      publisher: broker.eventPublisher(),
      subscriber: await broker.eventSubscriber(topic),
      close: () => broker.close(),
    };
  },
);

/** The in-process broker's byte level: each batch is encoded with the wire codec and copied. */
export const streamInProcessBytes: Contender = streamContender(
  'stream · in-process (bytes)',
  'inproc-b',
  async (topic) => {
    const broker = new InProcessBroker();
    return {
      publisher: broker.publisher(),
      subscriber: await broker.subscriber(topic),
      close: () => broker.close(),
    };
  },
);
