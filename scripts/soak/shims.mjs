// The shims the fault, kill and load scenarios run on, as small adapters over the shim packages.
// The modules are passed in, so the same adapters serve the soak runner (built dist) and the
// vitest suites (sources, through vitest's aliases).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** Broker addresses: the variables the tests read, else the local brokers of scripts/brokers.sh. */
const { env } = process;
export const REDIS_URL = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const KAFKA_BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** The JetStream stream of these scenarios (file storage, so it survives a restart). */
export const FAULTS_STREAM = { stream: 'PROXYSTREAM_FAULTS', subjectPrefix: 'proxystream-faults' };

/** What identifies one run of a broker: it changes when the broker really restarted. */
async function brokerIdentity(broker) {
  if (broker === 'redis') {
    const { port } = new URL(REDIS_URL);
    const { stdout } = await run('redis-cli', [
      '-h',
      '127.0.0.1',
      '-p',
      port || '6379',
      'info',
      'server',
    ]);
    return /run_id:(\w+)/.exec(stdout)?.[1];
  }
  if (broker === 'nats') {
    const varz = await fetch('http://127.0.0.1:8222/varz').then((response) => response.json());
    return `${varz.server_id}`;
  }
  return readFile(`${root}.cache/kafka/run/kafka.pid`, 'utf8').catch(() => undefined);
}

/**
 * The environment of `scripts/brokers.sh restart`: it refuses a broker given by its URL variable,
 * so a local Redis named by `REDIS_URL` (a private instance on another port, started with
 * `REDIS_PORT=<port> bash scripts/brokers.sh start redis`) is passed as `REDIS_PORT` instead.
 */
function brokersEnv(broker) {
  if (broker !== 'redis' || env.REDIS_URL === undefined) return env;
  const url = new URL(env.REDIS_URL);
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) return env;
  const { REDIS_URL: _given, ...rest } = env;
  return { ...rest, REDIS_PORT: url.port || '6379' };
}

/**
 * Restarts one local broker keeping its data (`bash scripts/brokers.sh restart <broker>`), and
 * fails when the broker that answers afterwards is still the same run (a restart that did not
 * happen would make a fault test pass without a fault).
 */
export async function restartBroker(broker) {
  const before = await brokerIdentity(broker);
  await run('bash', ['scripts/brokers.sh', 'restart', broker], {
    cwd: root,
    timeout: 120_000,
    env: brokersEnv(broker),
  });
  const after = await brokerIdentity(broker);
  if (before === undefined || before === after) {
    throw new Error(
      `bash scripts/brokers.sh restart ${broker} did not restart the broker (same run before and after: ${before}); ` +
        'was it started by scripts/brokers.sh?',
    );
  }
}

/** A topic name no other run uses (valid on every shim: letters, digits and dashes). */
export function uniqueTopic(prefix) {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/**
 * The adapters. `modules` holds the shim modules that are available: `{ redis, nats, kafka }`
 * (each the namespace of `@proxystream/shim-*`). Each adapter has: `name`, `broker` (for
 * restarts), `persistent`, `acknowledged`, `publisher()`, `subscriber(topic, { group, fast })`
 * (`fast`: short redelivery times for the kill scenario), `prepare()` and `cleanup(topic)`.
 */
export function shimAdapters(modules) {
  const adapters = {};
  const { redis, nats, kafka } = modules;
  if (redis !== undefined) {
    const deleteTopic = async (topic) => {
      // ioredis is a dependency of shim-redis only: resolve it from there.
      const from = createRequire(
        new URL('../../packages/shim-redis/package.json', import.meta.url),
      );
      const { Redis } = await import(pathToFileURL(from.resolve('ioredis')).href);
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 });
      client.on('error', () => {});
      try {
        await client.connect();
        const keys = [topic];
        let cursor = '0';
        do {
          const [next, found] = await client.scan(cursor, 'MATCH', `{${topic}}*`, 'COUNT', 1000);
          cursor = next;
          keys.push(...found);
        } while (cursor !== '0');
        await client.unlink(...keys);
      } finally {
        client.disconnect();
      }
    };
    adapters['redis-list'] = {
      name: 'redis-list',
      broker: 'redis',
      persistent: true,
      acknowledged: true,
      prepare: async () => {},
      publisher: async () => new redis.RedisQueuePublisher({ connection: REDIS_URL }),
      subscriber: (topic, { group } = {}) =>
        redis.RedisQueueSubscriber.create(topic, { connection: REDIS_URL, group }),
      cleanup: deleteTopic,
    };
    adapters['redis-streams'] = {
      name: 'redis-streams',
      broker: 'redis',
      persistent: true,
      acknowledged: true,
      prepare: async () => {},
      publisher: async () => new redis.RedisStreamsPublisher({ connection: REDIS_URL }),
      subscriber: (topic, { group, fast } = {}) =>
        redis.RedisStreamsSubscriber.create(topic, {
          connection: REDIS_URL,
          group,
          count: 64,
          // Like JetStream's ackWaitMs below: a delivery cut by a restart is claimed again (and
          // waited for by StreamConsumer) within seconds, not the default 30 s.
          ...(fast
            ? { claimIdleMs: 1_000, claimIntervalMs: 250 }
            : { claimIdleMs: 10_000, claimIntervalMs: 2_000 }),
        }),
      cleanup: deleteTopic,
    };
    adapters['redis-pubsub'] = {
      name: 'redis-pubsub',
      broker: 'redis',
      persistent: false,
      acknowledged: false,
      prepare: async () => {},
      publisher: async () => new redis.RedisPubSubPublisher({ connection: REDIS_URL }),
      subscriber: (topic) => redis.RedisPubSubSubscriber.create(topic, { connection: REDIS_URL }),
      cleanup: async () => {},
    };
  }
  if (nats !== undefined) {
    adapters.jetstream = {
      name: 'jetstream',
      broker: 'nats',
      persistent: true,
      acknowledged: true,
      prepare: () =>
        nats.ensureStream({
          servers: NATS_URL,
          name: FAULTS_STREAM.stream,
          subjectPrefix: FAULTS_STREAM.subjectPrefix,
          retention: 'limits',
          storage: 'file',
          maxAgeMs: 15 * 60_000,
        }),
      publisher: () => nats.JetStreamPublisher.connect({ servers: NATS_URL, ...FAULTS_STREAM }),
      subscriber: (topic, { group, fast } = {}) =>
        nats.JetStreamSubscriber.create(topic, {
          servers: NATS_URL,
          ...FAULTS_STREAM,
          group,
          ackWaitMs: fast ? 2_000 : 10_000,
        }),
      cleanup: async () => {},
    };
    adapters['nats-core'] = {
      name: 'nats-core',
      broker: 'nats',
      persistent: false,
      acknowledged: false,
      prepare: async () => {},
      publisher: () => nats.NatsPublisher.connect({ servers: NATS_URL }),
      subscriber: (topic) => nats.NatsSubscriber.create(topic, { servers: NATS_URL }),
      cleanup: async () => {},
    };
  }
  if (kafka !== undefined) {
    adapters.kafka = {
      name: 'kafka',
      broker: 'kafka',
      persistent: true,
      acknowledged: true,
      prepare: async () => {},
      publisher: () => kafka.KafkaPublisher.connect({ brokers: KAFKA_BROKERS, createTopics: true }),
      subscriber: (topic, { group } = {}) =>
        kafka.KafkaSubscriber.subscribe(topic, {
          brokers: KAFKA_BROKERS,
          group,
          createTopics: true,
          sessionTimeoutMs: 6_000,
          heartbeatIntervalMs: 500,
          maxWaitTimeMs: 100,
        }),
      cleanup: async () => {},
    };
  }
  return adapters;
}
