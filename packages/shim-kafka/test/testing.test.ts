import { collect, label, readLabel, uniqueTopic } from '@proxystream/contract-tests';
import { Kafka } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { KAFKA_CAPABILITIES, quietLogCreator } from '../src/index.js';
import { descriptors, kafkaBrokers, kafkaDescriptor } from '../src/testing.js';
import { assertKafkaRunning, brokers } from './kafka-env.js';

beforeAll(assertKafkaRunning);

const env = process.env;

async function topicExists(topic: string): Promise<boolean> {
  const admin = new Kafka({ brokers, logCreator: quietLogCreator }).admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}

describe('kafka descriptor', () => {
  it('states the capabilities the package exports, by reference', () => {
    expect(kafkaDescriptor.capabilities).toBe(KAFKA_CAPABILITIES);
    expect(descriptors).toEqual([kafkaDescriptor]);
    expect(kafkaDescriptor.name).toBe('kafka');
    expect(kafkaDescriptor.broker?.variable).toBe('KAFKA_BROKERS');
  });

  it('reads the brokers from KAFKA_BROKERS, comma-separated, else the local broker', () => {
    expect(kafkaBrokers({})).toEqual(['127.0.0.1:9092']);
    expect(kafkaBrokers({ KAFKA_BROKERS: 'a:1, b:2' })).toEqual(['a:1', 'b:2']);
  });

  it('makes a publisher and a subscriber that carry messages, and cleanup deletes the topic', async () => {
    const topic = uniqueTopic('kafka-descriptor');
    const subscriber = await kafkaDescriptor.subscriber(env, topic, { group: `${topic}-group` });
    const publisher = await kafkaDescriptor.publisher(env);
    try {
      await publisher.send(topic, label('one'));
      await kafkaDescriptor.publishRaw(env, topic, label('raw'));
      expect((await collect(subscriber, 2)).map(readLabel)).toEqual(['one', 'raw']);
    } finally {
      await publisher.close();
      await subscriber.close();
    }
    expect(await topicExists(topic)).toBe(true);
    await kafkaDescriptor.cleanup?.(env, topic);
    expect(await topicExists(topic)).toBe(false);
    // Deleting a topic that is gone is not an error.
    await kafkaDescriptor.cleanup?.(env, topic);
  });
});
