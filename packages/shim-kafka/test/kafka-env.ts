import { readLabel } from '@proxystream/contract-tests';
import { Kafka } from 'kafkajs';
import {
  type KafkaPublisherOptions,
  type KafkaSubscriberOptions,
  quietLogCreator,
} from '../src/index.js';
import { kafkaBrokers } from '../src/testing.js';

/** Brokers of the tests: `KAFKA_BROKERS` (comma-separated) or the local broker of scripts/kafka.sh. */
export const brokers = kafkaBrokers(process.env);

/** The connection settings of the tests. */
export const connection = { brokers };

/** Publisher settings of the tests: topics are created on first use. */
export const publisherOptions: KafkaPublisherOptions = { connection, createTopics: true };

/**
 * Subscriber settings of the tests: the broker's minimum session timeout and short fetch waits,
 * so that joins, rebalances and closes take well under a second when nothing goes wrong.
 */
export const subscriberOptions: KafkaSubscriberOptions = {
  connection,
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

/** What a client made: counts of the producers, consumers and admins taken from it. */
export interface CountingClient {
  readonly kafka: Kafka;
  readonly made: { producer: number; consumer: number; admin: number };
}

/**
 * A real client of the test broker that counts what the shim takes from it: a factory given an
 * aborted signal must take nothing (no producer connected, no member joined, no admin opened).
 */
export function countingClient(): CountingClient {
  const kafka = new Kafka({
    brokers,
    clientId: 'proxystream-counting',
    logCreator: quietLogCreator,
  });
  const made = { producer: 0, consumer: 0, admin: 0 };
  const producer = kafka.producer.bind(kafka);
  const consumer = kafka.consumer.bind(kafka);
  const admin = kafka.admin.bind(kafka);
  kafka.producer = (config) => {
    made.producer++;
    return producer(config);
  };
  kafka.consumer = (config) => {
    made.consumer++;
    return consumer(config);
  };
  kafka.admin = (config) => {
    made.admin++;
    return admin(config);
  };
  return { kafka, made };
}
