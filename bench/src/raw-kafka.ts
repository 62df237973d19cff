import { createKafkaTopics } from '@proxystream/shim-kafka';
import { publisherRetry } from '@proxystream/shim-kafka/testing';
import { Kafka, logLevel } from 'kafkajs';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

/**
 * kafkajs idempotent producer (acks -1) and a consumer group reading with eachBatch, on a topic
 * of one partition with `replicationFactor` copies.
 */
export function rawKafka(brokers: readonly string[], replicationFactor = 1): Contender {
  return {
    name: replicationFactor === 1 ? 'kafkajs' : `kafkajs (replication ${replicationFactor})`,
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const topic = freshTopic('kafka');
      const kafka = new Kafka({ brokers: [...brokers], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      // The shim's helper waits until every broker serves the topic: kafkajs's `waitForLeaders`
      // gives up when a broker of a cluster has not applied the new topic yet.
      await createKafkaTopics(kafka, [topic], { numPartitions: 1, replicationFactor });
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // The publisher's retry budget (about 30 s): kafkajs's own 5 retries (7–10 s) gave up on
        // a freshly started cluster ("This server does not host this topic-partition") where the
        // shim rode it out. Retries cost nothing while sends succeed.
        retry: publisherRetry,
      });
      await producer.connect();
      // The group settings of the shim's descriptor: a join that a slow coordinator made retry
      // waits out a session timeout (6 s, not kafkajs's 30 s), and closing waits out one fetch wait.
      const consumer = kafka.consumer({
        groupId: `${topic}.group`,
        maxBytes: 64 * 1024 * 1024,
        sessionTimeout: 6_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 100,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const joined = new Promise<void>((resolve) => {
        consumer.on(consumer.events.GROUP_JOIN, () => resolve());
      });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) if (message.value) counter.message(message.value);
        },
      });
      await joined;
      const publish = (message: Uint8Array) =>
        producer
          .send({
            topic,
            acks: -1,
            messages: [
              { value: Buffer.from(message.buffer, message.byteOffset, message.byteLength) },
            ],
          })
          .then(() => undefined);
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) await publish(rest);
        },
        get received() {
          return counter.received;
        },
        async close() {
          await consumer.disconnect();
          await producer.disconnect();
          await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
          await admin.disconnect();
        },
      };
    },
  };
}
