import { brokerContract } from '@proxystream/contract-tests';
import { NATS_CORE_CAPABILITIES, NatsPublisher, NatsSubscriber } from '../../src/index.js';
import { NATS_URL, restartNats } from '../support.js';

/** Invalid topics every NATS shim must reject. */
export const INVALID_TOPICS = [
  'a*b',
  'a.>',
  '*',
  '>',
  'a b',
  'tab\tbed',
  'new\nline',
  '.lead',
  'trail.',
  'dou..ble',
];

/** Core NATS against the shared broker contract. */
export function coreContract(): void {
  brokerContract({
    name: 'core NATS',
    capabilities: NATS_CORE_CAPABILITIES,
    createPublisher: () => NatsPublisher.connect({ servers: NATS_URL }),
    createSubscriber: (topic, options) =>
      NatsSubscriber.create(topic, { ...options, servers: NATS_URL }),
    invalidTopics: INVALID_TOPICS,
    restartBroker: restartNats,
    inactivityTimeoutMs: 5_000,
  });
}
