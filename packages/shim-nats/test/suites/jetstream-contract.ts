import { brokerContract } from '@proxystream/contract-tests';
import { beforeAll } from 'vitest';
import {
  ensureStream,
  JETSTREAM_CAPABILITIES,
  JetStreamPublisher,
  JetStreamSubscriber,
} from '../../src/index.js';
import { NATS_URL, restartNats } from '../support.js';
import { INVALID_TOPICS } from './core-contract.js';

/** The stream the JetStream tests use, apart from the default one. */
export const TEST_STREAM = {
  stream: 'PROXYSTREAM_TEST',
  subjectPrefix: 'proxystream-test',
} as const;

/** Makes sure the test stream exists (file storage, limits retention, messages kept 15 minutes). */
export async function ensureTestStream(): Promise<void> {
  await ensureStream({
    servers: NATS_URL,
    name: TEST_STREAM.stream,
    subjectPrefix: TEST_STREAM.subjectPrefix,
    retention: 'limits',
    storage: 'file',
    maxAgeMs: 15 * 60_000,
  });
}

/** JetStream against the shared broker contract. */
export function jetStreamContract(): void {
  beforeAll(ensureTestStream);
  brokerContract({
    name: 'JetStream',
    capabilities: JETSTREAM_CAPABILITIES,
    createPublisher: () => JetStreamPublisher.connect({ servers: NATS_URL, ...TEST_STREAM }),
    createSubscriber: (topic, options) =>
      JetStreamSubscriber.create(topic, {
        ...options,
        servers: NATS_URL,
        ...TEST_STREAM,
        ackWaitMs: 5_000,
      }),
    invalidTopics: INVALID_TOPICS,
    restartBroker: restartNats,
    inactivityTimeoutMs: 5_000,
  });
}
