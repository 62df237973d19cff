import type { Publisher, Subscriber } from '@proxystream/protocols';
import type { BenchConfig } from './config.js';
import { REDIS_READ_COUNT } from './raw-redis.js';
import type { Entry } from './runner.js';
import { loadShim, type ShimModule } from './shims.js';
import { type EndpointFactory, streamContender } from './stream-pipe.js';

export type ShimTransport =
  | 'redis-pubsub'
  | 'redis-list'
  | 'redis-streams'
  | 'nats'
  | 'jetstream'
  | 'kafka';

const PACKAGE: Record<ShimTransport, string> = {
  'redis-pubsub': '@proxystream/shim-redis',
  'redis-list': '@proxystream/shim-redis',
  'redis-streams': '@proxystream/shim-redis',
  nats: '@proxystream/shim-nats',
  jetstream: '@proxystream/shim-nats',
  kafka: '@proxystream/shim-kafka',
};

const TITLE: Record<ShimTransport, string> = {
  'redis-pubsub': 'stream · Redis pub/sub shim',
  'redis-list': 'stream · Redis list shim',
  'redis-streams': 'stream · Redis Streams shim',
  nats: 'stream · core NATS shim',
  jetstream: 'stream · JetStream shim',
  kafka: 'stream · Kafka shim',
};

type PublisherClass = new (options: object) => Publisher;
interface SubscriberFactory {
  create?: (topic: string, options: object) => Promise<Subscriber>;
  subscribe?: (topic: string, options: object) => Promise<Subscriber>;
  connect?: (options: object) => Promise<Publisher>;
}

function member<T>(module: ShimModule, name: string): T {
  if (!('exports' in module)) throw new Error(module.reason);
  const value = module.exports[name];
  if (typeof value !== 'function') throw new Error(`the shim exports no ${name}`);
  return value as T;
}

/** Opens the shim's publisher and subscriber for one topic (the shim's own constructors). */
function endpointFactory(
  transport: ShimTransport,
  module: ShimModule,
  config: BenchConfig,
): EndpointFactory {
  const redis = { connection: config.redisUrl };
  const nats = { servers: config.natsUrl };
  const kafka = { brokers: config.kafkaBrokers, createTopics: true };
  const nothing = async () => undefined;
  switch (transport) {
    case 'redis-pubsub':
    case 'redis-list':
    case 'redis-streams': {
      const prefix =
        transport === 'redis-pubsub'
          ? 'RedisPubSub'
          : transport === 'redis-list'
            ? 'RedisQueue'
            : 'RedisStreams';
      const Pub = member<PublisherClass>(module, `${prefix}Publisher`);
      const Sub = member<SubscriberFactory>(module, `${prefix}Subscriber`);
      // Same read count as the raw contenders (raw-redis.ts); pub/sub has none.
      const subscriberOptions =
        transport === 'redis-streams'
          ? { ...redis, start: 'beginning', count: REDIS_READ_COUNT }
          : transport === 'redis-list'
            ? { ...redis, count: REDIS_READ_COUNT }
            : redis;
      return async (topic) => ({
        subscriber: await Sub.create!(topic, subscriberOptions),
        publisher: new Pub(redis),
        close: nothing,
      });
    }
    case 'nats': {
      const Pub = member<SubscriberFactory>(module, 'NatsPublisher');
      const Sub = member<SubscriberFactory>(module, 'NatsSubscriber');
      return async (topic) => ({
        subscriber: await Sub.create!(topic, nats),
        publisher: await Pub.connect!(nats),
        close: nothing,
      });
    }
    case 'jetstream': {
      const Pub = member<SubscriberFactory>(module, 'JetStreamPublisher');
      const Sub = member<SubscriberFactory>(module, 'JetStreamSubscriber');
      return async (topic) => {
        // One stream per run, like the raw contender, deleted afterwards.
        const stream = topic.replaceAll('.', '_');
        const options = { ...nats, stream, subjectPrefix: stream, createStream: true };
        const publisher = await Pub.connect!(options);
        const subscriber = await Sub.create!(topic, options);
        return {
          publisher,
          subscriber,
          close: () => deleteJetStream(config.natsUrl, stream),
        };
      };
    }
    case 'kafka': {
      const Pub = member<SubscriberFactory>(module, 'KafkaPublisher');
      const Sub = member<SubscriberFactory>(module, 'KafkaSubscriber');
      return async (topic) => {
        const subscriber = await Sub.subscribe!(topic, kafka);
        const publisher = await Pub.connect!(kafka);
        return { publisher, subscriber, close: nothing };
      };
    }
  }
}

async function deleteJetStream(url: string, stream: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const connection = await connect({ servers: url });
  try {
    await (await jetstreamManager(connection)).streams.delete(stream).catch(() => undefined);
  } finally {
    await connection.close();
  }
}

/** The shim's publisher/subscriber pair for `transport` opened per topic, or why it cannot run. */
export async function shimEndpoints(
  transport: ShimTransport,
  config: BenchConfig,
): Promise<EndpointFactory | string> {
  const module = await loadShim(PACKAGE[transport]);
  if ('reason' in module) return module.reason;
  try {
    return endpointFactory(transport, module, config);
  } catch (error) {
    return (error as Error).message;
  }
}

/** StreamProducer → shim → StreamConsumer for `transport`, or why it cannot run. */
export async function shimStreamContender(
  transport: ShimTransport,
  config: BenchConfig,
): Promise<Entry> {
  const name = TITLE[transport];
  const endpoints = await shimEndpoints(transport, config);
  if (typeof endpoints === 'string') return { name, kind: 'stream', unavailable: endpoints };
  return streamContender(name, transport, endpoints);
}
