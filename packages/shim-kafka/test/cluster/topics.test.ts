import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../../src/index.js';
import { connection, requireCluster } from './cluster-env.js';

requireCluster();

describe('topics created on a 3-broker cluster', () => {
  it('a publisher and a subscriber with createTopics use 10 fresh topics without an error', async () => {
    const publisher = await KafkaPublisher.create({
      connection,
      createTopics: { replicationFactor: 3 },
    });
    try {
      for (let i = 0; i < 10; i++) {
        const topic = `cluster-race-${randomUUID()}`;
        // Both create the same topic at the same moment, as two processes starting together do.
        const [subscriber] = await Promise.all([
          KafkaSubscriber.create(topic, {
            connection,
            createTopics: { replicationFactor: 3 },
            sessionTimeoutMs: 6_000,
            heartbeatIntervalMs: 500,
            maxWaitTimeMs: 100,
          }),
          publisher.send(topic, new Uint8Array([i])),
        ]);
        try {
          const next = await subscriber.next();
          expect([...(next.value as Uint8Array)]).toEqual([i]);
        } finally {
          await subscriber.close();
        }
      }
    } finally {
      await publisher.close();
    }
  });
});
