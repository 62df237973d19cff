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
