/**
 * The shim kit: the building blocks every shim shares, so that a shim is its broker logic only.
 * No runtime dependencies, like the rest of `@proxystream/protocols`.
 *
 * @packageDocumentation
 */
export { type AbortableOptions, abortable, throwIfAborted } from './abort.js';
export { bufferView, bytesToSend } from './buffers.js';
export { InFlightWindow, type InFlightWindowOptions } from './in-flight-window.js';
export { nonNegative, oneOf, positiveInteger, positiveNumber } from './option-checks.js';
export {
  type LossReporting,
  QueueSubscriber,
  type QueueSubscriberOptions,
} from './queue-subscriber.js';
export { REDACTED, redactedJson, redactUrls, withoutUserInfo } from './redaction.js';
export {
  type BrokerRequirement,
  brokerAddress,
  type ClusterFailover,
  type DescriptorStore,
  type DescriptorSubscribeOptions,
  type RestartExpectation,
  type ShimDescriptor,
  type ShimEnvironment,
} from './shim-descriptor.js';
export { pause, settledWithin, settleWithin, withTimeout } from './timeouts.js';
