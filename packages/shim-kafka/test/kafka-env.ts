import { readLabel } from '@proxystream/contract-tests';
import { Kafka } from 'kafkajs';
import {
  type KafkaPublisherOptions,
  type KafkaSubscriberOptions,
  quietLogCreator,
} from '../src/index.js';

/** Brokers of the tests: `KAFKA_BROKERS` (comma-separated) or the local broker of scripts/kafka.sh. */
export const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** Publisher settings of the tests: topics are created on first use. */
export const publisherOptions: KafkaPublisherOptions = { brokers, createTopics: true };

/**
 * Subscriber settings of the tests: the broker's minimum session timeout and short fetch waits,
 * so that joins, rebalances and closes take well under a second when nothing goes wrong.
 */
export const subscriberOptions: KafkaSubscriberOptions = {
  brokers,
  createTopics: true,
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  maxWaitTimeMs: 100,
};

/**
 * Fails fast, with what to do, when no broker answers: without it every case would wait out
 * kafkajs's connection retries. Use as `beforeAll(assertKafkaRunning)`.
 */
export async function assertKafkaRunning(): Promise<void> {
  const admin = new Kafka({
    brokers,
    clientId: 'proxystream-probe',
    connectionTimeout: 2_000,
    retry: { retries: 0 },
    logCreator: quietLogCreator,
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (error) {
    throw new Error(
      `no Kafka broker answers at ${brokers.join(',')}: run "bash scripts/kafka.sh start" or set KAFKA_BROKERS`,
      { cause: error },
    );
  } finally {
    await admin.disconnect();
  }
}

/** The labels of `messages` (see `label` of the contract tests), in order. */
export const texts = (messages: Uint8Array[]): string[] => messages.map(readLabel);
