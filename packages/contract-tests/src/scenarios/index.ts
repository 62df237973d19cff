/**
 * The fault, load and shutdown scenarios without vitest, for runners outside a test (the soak
 * run): `import { restartScenario } from '@proxystream/contract-tests/scenarios'`. Each drives a
 * shim through its descriptor and returns figures; the suites of the package root check them.
 *
 * @packageDocumentation
 */
export { activeHandleCount } from '../helpers.js';
export {
  type ContractConsumer,
  type ContractConsumerOptions,
  type ContractProducer,
  type ContractProducerOptions,
  openFileStore,
  type StreamModule,
} from '../stream-module.js';
export { type ClusterNodes, localClusterNodes } from './cluster-node.js';
export {
  type ChildModules,
  type KillFigures,
  type KillScenarioOptions,
  killScenario,
  resolveChildModules,
} from './kill.js';
export { type LoadFigures, type LoadScenarioOptions, loadScenario } from './load.js';
export { restartLocalBroker } from './local-broker.js';
export { rawReader } from './raw-reader.js';
export {
  type RestartFigures,
  type RestartScenarioOptions,
  restartScenario,
  type StoredFigures,
} from './restart.js';
export { type SendAllOptions, sendAll } from './send-all.js';
export {
  type BurstCloseFigures,
  closeDuringBlockedNext,
  closeDuringBurst,
  handlesBackTo,
  type ShutdownScenarioOptions,
} from './shutdown.js';
export {
  type MemoryFigures,
  nextObjectWithin,
  type ObjectSource,
  rssSampler,
  Tally,
} from './tally.js';
