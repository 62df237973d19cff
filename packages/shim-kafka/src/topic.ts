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
 * Creates `topics` if they do not exist yet and waits until its brokers answer with a leader for
 * every partition, so that a send or a subscription right after it succeeds. Existing topics are left as they are.
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

  /** Resolves once `topic` exists and its brokers answer with a leader for each partition. */
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
      // Not kafkajs's waitForLeaders: it gives up on UNKNOWN_TOPIC_OR_PARTITION, which a broker of
      // a cluster that has not yet applied the new topic answers.
      await admin.createTopics({
        waitForLeaders: false,
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
      await waitUntilServed(admin, topic);
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

/** Answers in a row that must show the topic served; each comes from a broker kafkajs picks. */
const SERVED_ANSWERS = 3;

/**
 * Waits until `topic` is served: every partition has a leader, in {@link SERVED_ANSWERS} metadata
 * answers in a row (a replica that is down does not hold it up). A broker that does not know the topic yet (UNKNOWN_TOPIC_OR_PARTITION) just means "not
 * yet": a topic created on a cluster reaches its brokers a few milliseconds apart.
 */
async function waitUntilServed(admin: Admin, topic: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let served = 0;
  let lastError: unknown;
  while (served < SERVED_ANSWERS) {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch((error) => {
      lastError = error;
      return undefined;
    });
    const partitions = metadata?.topics[0]?.partitions ?? [];
    const ready = partitions.length > 0 && partitions.every((partition) => partition.leader >= 0);
    served = ready ? served + 1 : 0;
    if (served >= SERVED_ANSWERS) return;
    if (Date.now() > deadline) {
      throw new Error(`topic "${topic}" is not served by its brokers after ${timeoutMs} ms`, {
        cause: lastError,
      });
    }
    if (!ready) await pause(50);
  }
}
