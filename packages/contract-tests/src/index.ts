export { brokerContract } from './broker-contract.js';
export { type CleanupAfterEach, type Closable, closeAfterEach } from './cleanup.js';
export {
  type FaultScenarios,
  type FaultSuiteOptions,
  faultSuite,
  type KillFigures,
  type LoadFigures,
  type RestartCase,
  type RestartDelivery,
  type RestartFigures,
  type RestartStorage,
} from './fault-suite.js';
export {
  type FrozenBrokerCaseOptions,
  frozenBrokerCase,
  type StreamClasses,
} from './frozen-broker.js';
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
export {
  acceptsConnections,
  type CertificateFiles,
  type ConnectionTrap,
  connectionTrap,
  freePort,
  type LocalServer,
  type LocalServerOptions,
  type LocalServerPlace,
  selfSignedCertificate,
  startLocalServer,
} from './local-server.js';
export type { BrokerContractOptions, StoreContractOptions } from './options.js';
export {
  captureOutput,
  expectRefusedWithoutLeaks,
  type RefusalExpectations,
  renderings,
} from './secret-leaks.js';
export { storeContract } from './store-contract.js';
export { type LongKeyMessageCaseOptions, longKeyMessageCase } from './store-key-cases.js';
export {
  type ReferenceClasses,
  type StoreServerGoneCaseOptions,
  storeServerGoneCase,
} from './store-server-gone.js';
export {
  type DecodingConsumer,
  type MalformedMessagesCaseOptions,
  malformedMessagesCase,
} from './stream-bad-input.js';
