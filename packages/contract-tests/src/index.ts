export { brokerContract } from './broker-contract.js';
export {
  activeHandleCount,
  assertAllReceived,
  assertNoneLost,
  type CollectOptions,
  collect,
  collectGarbage,
  drain,
  iteratorOf,
  label,
  labels,
  type NextOutcome,
  nextWithin,
  parallelSenders,
  readLabel,
  uniqueTopic,
  waitFor,
  within,
} from './helpers.js';
export type { BrokerContractOptions, StoreContractOptions } from './options.js';
export { storeContract } from './store-contract.js';
export {
  type DecodingConsumer,
  type MalformedMessagesCaseOptions,
  malformedMessagesCase,
} from './stream-bad-input.js';
