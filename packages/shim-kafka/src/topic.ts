import { InvalidTopicError } from '@proxystream/protocols';
import { pause } from '@proxystream/protocols/kit';
import type { Admin, Kafka } from 'kafkajs';
import { brokerError } from './kafka-errors.js';
import { type KafkaConnectionSettings, kafkaClientOf, type TopicSettings } from './options.js';

/** Longest topic name Kafka accepts. */
export const MAX_TOPIC_LENGTH = 249;
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;

/**
 * Throws {@link InvalidTopicError} unless `topic` is a name Kafka accepts: 1–249 characters of
 * ASCII letters, digits, `.`, `_` and `-`, and neither `.` nor `..`.
 */
export function assertValidTopic(topic: string): void {
  if (topic.length === 0) throw new InvalidTopicError(topic, 'a Kafka topic name cannot be empty');
  if (topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidTopicError(topic, `longer than Kafka's ${MAX_TOPIC_LENGTH} characters`);
  }
  if (!LEGAL_TOPIC.test(topic)) {
    throw new InvalidTopicError(topic, 'Kafka allows only ASCII letters, digits, ".", "_" and "-"');
  }
  if (topic === '.' || topic === '..') throw new InvalidTopicError(topic, 'reserved by Kafka');
}

/**
 * Creates `topics` if they do not exist yet and waits until every partition has a leader, so that
 * a send or a subscription right after it succeeds. Existing topics are left as they are.
 * `connection` is a `Kafka` client or its settings, like the `connection` option of the publisher
 * and subscriber; the admin client opened here is disconnected before it resolves.
 *
 * @example
 * ```ts
 * await createKafkaTopics({ brokers: ['127.0.0.1:9092'] }, ['frames'], { numPartitions: 4 });
 * ```
 * @throws {@link InvalidTopicError} for a name Kafka rejects.
 * @throws {@link BrokerError} when the broker refuses (e.g. a replication factor above its broker count).
 */
export async function createKafkaTopics(
  connection: Kafka | KafkaConnectionSettings,
  topics: readonly string[],
  settings: TopicSettings = {},
): Promise<void> {
  const creator = new TopicCreator(kafkaClientOf({ connection }), settings);
  try {
    await Promise.all(topics.map((topic) => creator.ensure(topic)));
  } finally {
    await creator.close();
  }
}

/**
 * Creates topics on first use through one lazily connected admin client; each topic is created
 * (or found) once per instance. Internal to the shim.
 */
export class TopicCreator {
  readonly #kafka: Kafka;
  readonly #settings: TopicSettings;
  readonly #done = new Map<string, Promise<void>>();
  #admin: Promise<Admin> | undefined;

  constructor(kafka: Kafka, settings: TopicSettings) {
    this.#kafka = kafka;
    this.#settings = settings;
  }

  /** Resolves once `topic` exists with a leader for each partition. */
  ensure(topic: string): Promise<void> {
    let done = this.#done.get(topic);
    if (done === undefined) {
      done = this.#create(topic);
      // A failed creation is retried on the next use rather than cached.
      done.catch(() => this.#done.delete(topic));
      this.#done.set(topic, done);
    }
    return done;
  }

  /** Disconnects the admin client, if one was opened. */
  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin) await admin.then((opened) => opened.disconnect()).catch(() => undefined);
  }

  async #create(topic: string): Promise<void> {
    assertValidTopic(topic);
    const admin = await this.#connect();
    const { numPartitions, replicationFactor, configEntries } = this.#settings;
    try {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            ...(numPartitions === undefined ? {} : { numPartitions }),
            ...(replicationFactor === undefined ? {} : { replicationFactor }),
            ...(configEntries === undefined
              ? {}
              : {
                  configEntries: Object.entries(configEntries).map(([name, value]) => ({
                    name,
                    value,
                  })),
                }),
          },
        ],
      });
      // Another client created it first: its leaders may not be elected yet.
      if (!created) await waitForLeaders(admin, topic);
    } catch (error) {
      throw brokerError(`creating topic "${topic}" failed`, error, topic);
    }
  }

  #connect(): Promise<Admin> {
    if (this.#admin === undefined) {
      const admin = this.#kafka.admin();
      const connecting = admin.connect().then(() => admin);
      connecting.catch(() => {
        if (this.#admin === connecting) this.#admin = undefined;
      });
      this.#admin = connecting;
    }
    return this.#admin;
  }
}

async function waitForLeaders(admin: Admin, topic: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const partitions = metadata?.topics[0]?.partitions ?? [];
    if (partitions.length > 0 && partitions.every((partition) => partition.leader >= 0)) return;
    if (Date.now() > deadline)
      throw new Error(`topic "${topic}" has no leader after ${timeoutMs} ms`);
    await pause(50);
  }
}
