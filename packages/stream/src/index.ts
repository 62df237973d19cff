export {
  InProcessBroker,
  type InProcessBrokerOptions,
  inProcessCapabilities,
} from './in-process-broker.js';
