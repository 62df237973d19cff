import { malformedMessagesCase, within } from '@proxystream/contract-tests';
import {
  encodeBatch,
  SERIALIZER_MARKER,
  SERIALIZER_VERSION,
  StreamConsumer,
} from '@proxystream/stream';
import { Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { KafkaSubscriber, quietLogCreator } from '../src/index.js';
import { assertKafkaRunning, brokers, subscriberOptions } from './kafka-env.js';

// Raw client: what a broken or hostile producer would use, bypassing the shim's publisher.
let raw: Producer;
beforeAll(async () => {
  await assertKafkaRunning();
  raw = new Kafka({
    brokers,
    clientId: 'proxystream-bad-input',
    logCreator: quietLogCreator,
  }).producer();
  await raw.connect();
});
afterAll(async () => {
  await within(raw.disconnect(), 30_000, 'disconnecting the raw producer');
});

malformedMessagesCase({
  name: 'Kafka',
  openConsumer: async (topic) =>
    new StreamConsumer(await KafkaSubscriber.subscribe(topic, subscriberOptions), {
      topics: [topic],
    }),
  publishRaw: async (topic, message) => {
    await raw.send({ topic, messages: [{ value: Buffer.from(message) }] });
  },
  encode: encodeBatch,
  poisonPayload: Uint8Array.of(...SERIALIZER_MARKER, SERIALIZER_VERSION, 0xee),
  inactivityMs: 30_000,
});
