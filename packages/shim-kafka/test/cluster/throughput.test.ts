import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KafkaPublisher } from '../../src/index.js';
import { connection, requireCluster } from './cluster-env.js';

requireCluster();

describe('awaited sends on a 3-broker cluster (acks from every in-sync replica)', () => {
  it('each 1 KiB send awaited before the next runs at more than 200 per second', async () => {
    const topic = `cluster-throughput-${randomUUID()}`;
    const publisher = await KafkaPublisher.create({
      connection,
      createTopics: { replicationFactor: 3 },
    });
    const message = new Uint8Array(1024);
    try {
      await publisher.send(topic, message);
      const count = 1_000;
      const started = performance.now();
      for (let i = 0; i < count; i++) await publisher.send(topic, message);
      const perSecond = Math.round(count / ((performance.now() - started) / 1000));
      console.info(JSON.stringify({ scenario: 'awaited sends', shim: 'kafka-cluster', perSecond }));
      expect(perSecond).toBeGreaterThan(200);
    } finally {
      await publisher.close();
    }
  });
});
