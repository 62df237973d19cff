/**
 * The in-process broker as the project's tooling sees a shim: a {@link ShimDescriptor}, so that
 * the contract suites (`@proxystream/contract-tests`) run on it as on every broker shim.
 *
 * @example
 * ```ts
 * import { brokerContract } from '@proxystream/contract-tests';
 * import { InProcessBroker } from '@proxystream/stream';
 * import { inProcessDescriptor } from '@proxystream/stream/testing';
 *
 * brokerContract(inProcessDescriptor(new InProcessBroker()));
 * ```
 *
 * @packageDocumentation
 */
import type { ShimDescriptor } from '@proxystream/protocols/kit';
import type { InProcessBroker } from './in-process-broker.js';
import { ThreadsBroker } from './threads-broker.js';
import { ThreadsPublisher } from './threads-publisher.js';
import { ThreadsSubscriber } from './threads-subscriber.js';
import { threadsCapabilities } from './threads-topic.js';

/**
 * A descriptor of `broker`: its publishers and subscribers, no broker process to start
 * (`broker: undefined`), the environment ignored. Raw publishing is the broker's own byte
 * publisher, which carries any bytes (the stream's envelope is decoded by the consumer only).
 */
export function inProcessDescriptor(broker: InProcessBroker): ShimDescriptor {
  const descriptor: ShimDescriptor = {
    name: 'inproc',
    title: 'in-process broker',
    packageName: '@proxystream/stream',
    broker: undefined,
    capabilities: broker.capabilities,
    invalidTopics: Object.freeze(['bad\ntopic']),
    publisher: async () => broker.publisher(),
    subscriber: (_env, topic, options = {}) =>
      broker.subscriber(topic, {
        ...(options.group === undefined ? {} : { group: options.group }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }),
    async publishRaw(_env, topic, bytes) {
      const publisher = broker.publisher();
      try {
        await publisher.send(topic, bytes);
      } finally {
        await publisher.close();
      }
    },
  };
  return Object.freeze(descriptor);
}

function describeThreads(broker: () => Promise<ThreadsBroker>): ShimDescriptor {
  const descriptor: ShimDescriptor = {
    name: 'threads',
    title: 'worker threads',
    packageName: '@proxystream/stream',
    broker: undefined,
    capabilities: threadsCapabilities,
    invalidTopics: Object.freeze(['bad\ntopic']),
    publisher: async () => ThreadsPublisher.create({ connection: await broker() }),
    subscriber: async (_env, topic, options = {}) =>
      ThreadsSubscriber.create(topic, {
        connection: await broker(),
        ...(options.group === undefined ? {} : { group: options.group }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }),
    async publishRaw(_env, topic, bytes) {
      // The shim carries any bytes: its own publisher is the raw client.
      const publisher = await ThreadsPublisher.create({ connection: await broker() });
      try {
        await publisher.send(topic, bytes);
      } finally {
        await publisher.close();
      }
    },
  };
  return Object.freeze(descriptor);
}

/**
 * A descriptor of the worker-threads shim on `broker`, publishers and subscribers made in the
 * calling thread (over real `MessagePort`s, as in a worker); no broker process
 * (`broker: undefined`), the environment ignored.
 */
export function threadsDescriptorOf(broker: ThreadsBroker): ShimDescriptor {
  return describeThreads(async () => broker);
}

let sharedBroker: Promise<ThreadsBroker> | undefined;

/**
 * The worker-threads shim as the project's tooling sees it, on a {@link ThreadsBroker} made in
 * the calling thread on first use (it holds no handle open while nothing is connected).
 *
 * @example
 * ```ts
 * import { brokerContract } from '@proxystream/contract-tests';
 * import { threadsDescriptor } from '@proxystream/stream/testing';
 *
 * brokerContract(threadsDescriptor);
 * ```
 */
export const threadsDescriptor: ShimDescriptor = describeThreads(() => {
  sharedBroker ??= ThreadsBroker.create();
  return sharedBroker;
});

/** The descriptors of this package that need no broker made by the caller: the worker-threads shim. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([threadsDescriptor]);
