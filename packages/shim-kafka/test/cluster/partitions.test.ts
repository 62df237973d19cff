import { randomUUID } from 'node:crypto';
import * as stream from '@proxystream/stream';
import { describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../../src/index.js';
import { connection, requireCluster } from './cluster-env.js';

requireCluster();

const topicSettings = { numPartitions: 3, replicationFactor: 3 };

describe('a topic of 3 partitions on a 3-broker cluster', () => {
  it('two stream producers send 3 000 objects with no false gap, none lost, each in order', async () => {
    const topic = `cluster-partitions-${randomUUID()}`;
    const perProducer = 1_500;
    let gaps = 0;
    const consumer = new stream.StreamConsumer(
      await KafkaSubscriber.create(topic, {
        connection,
        createTopics: topicSettings,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        maxWaitTimeMs: 100,
      }),
      { topics: [topic], onGap: () => gaps++ },
    );
    const sending = [0, 1].map(async (which) => {
      const producer = new stream.StreamProducer(
        await KafkaPublisher.create({ connection, createTopics: topicSettings }),
        { batchSize: 1 },
      );
      const sends: Promise<void>[] = [];
      for (let index = 0; index < perProducer; index++) {
        sends.push(producer.send(topic, { which, index }));
      }
      await Promise.all(sends);
      await producer.close({ topics: [topic] });
    });
    const last = [-1, -1];
    let received = 0;
    let outOfOrder = 0;
    const reading = (async () => {
      for (;;) {
        const result = await consumer.nextObject();
        if (result.done === true) return;
        const { which, index } = result.value as { which: number; index: number };
        if (index !== last[which]! + 1) outOfOrder++;
        last[which] = index;
        received++;
        if (received === 2 * perProducer) return;
      }
    })();
    await Promise.all(sending);
    await reading;
    await consumer.close();
    expect({ gaps, outOfOrder, received }).toEqual({ gaps: 0, outOfOrder: 0, received: 3_000 });
  });
});
