export { brokerContract } from './broker-contract.js';
export { type CleanupAfterEach, type Closable, closeAfterEach } from './cleanup.js';
export { type CopiedUnlessOwnedOptions, expectCopiedUnlessOwned } from './copies-unless-owned.js';
export {
  type FailoverFigures,
  type FailoverSuiteOptions,
  failoverSuite,
} from './failover-suite.js';
export {
  type FaultSuiteOptions,
  faultSuite,
  type RestartCaseSettings,
  type RestartDelivery,
  restartCase,
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
export type {
  BrokerContractOptions,
  RestartBroker,
  StoreContractOptions,
} from './options.js';
export { freezeProcess, thawProcess } from './process-freeze.js';
export { type ClusterNodes, localClusterNodes } from './scenarios/cluster-node.js';
export {
  type ChildModules,
  type KillFigures,
  type KillScenarioOptions,
  killScenario,
  resolveChildModules,
} from './scenarios/kill.js';
export { type LoadFigures, type LoadScenarioOptions, loadScenario } from './scenarios/load.js';
export { restartLocalBroker } from './scenarios/local-broker.js';
export { rawReader } from './scenarios/raw-reader.js';
export {
  type RestartFigures,
  type RestartScenarioOptions,
  restartScenario,
  type StoredFigures,
} from './scenarios/restart.js';
export { type SendAllOptions, sendAll } from './scenarios/send-all.js';
export {
  type BurstCloseFigures,
  closeDuringBlockedNext,
  closeDuringBurst,
  handlesBackTo,
  type ShutdownScenarioOptions,
} from './scenarios/shutdown.js';
export {
  type MemoryFigures,
  nextObjectWithin,
  type ObjectSource,
  rssSampler,
  Tally,
} from './scenarios/tally.js';
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
  checkMalformedMessages,
  type DecodingConsumer,
  type MalformedMessagesCaseOptions,
  malformedMessagesCase,
} from './stream-bad-input.js';
export { type StreamContractOptions, streamContract } from './stream-contract.js';
export {
  type ContractConsumer,
  type ContractConsumerOptions,
  type ContractProducer,
  type ContractProducerOptions,
  openFileStore,
  type StreamModule,
} from './stream-module.js';
