import type { BenchConfig } from './config.js';
import { rawMessageChannel, rawQueue } from './raw-inproc.js';
import { rawKafka } from './raw-kafka.js';
import { rawJetStream, rawNatsCore } from './raw-nats.js';
import { rawRedisList, rawRedisPubSub, rawRedisStreams } from './raw-redis.js';
import type { Entry } from './runner.js';
import { shimStreamContender } from './shim-adapters.js';
import { streamInProcessBytes, streamInProcessEvents } from './stream-pipe.js';

/** One broker (or broker mode) with its raw contenders (first = baseline) and stream contenders. */
export interface Transport {
  readonly id: string;
  readonly title: string;
  readonly entries: readonly Entry[];
}

/** The transports of the overhead and latency sections; stream contenders of missing shims are marked unavailable. */
export async function transports(config: BenchConfig): Promise<Transport[]> {
  const all: Transport[] = [
    {
      id: 'inproc',
      title: 'in-process',
      entries: [rawQueue, rawMessageChannel, streamInProcessEvents, streamInProcessBytes],
    },
    {
      id: 'redis-pubsub',
      title: 'Redis pub/sub',
      entries: [rawRedisPubSub(config.redisUrl), await shimStreamContender('redis-pubsub', config)],
    },
    {
      id: 'redis-list',
      title: 'Redis list queue',
      entries: [rawRedisList(config.redisUrl), await shimStreamContender('redis-list', config)],
    },
    {
      id: 'redis-streams',
      title: 'Redis Streams',
      entries: [
        rawRedisStreams(config.redisUrl),
        await shimStreamContender('redis-streams', config),
      ],
    },
    {
      id: 'nats',
      title: 'core NATS',
      entries: [rawNatsCore(config.natsUrl), await shimStreamContender('nats', config)],
    },
    {
      id: 'jetstream',
      title: 'JetStream',
      entries: [rawJetStream(config.natsUrl), await shimStreamContender('jetstream', config)],
    },
    {
      id: 'kafka',
      title: 'Kafka',
      entries: [rawKafka(config.kafkaBrokers), await shimStreamContender('kafka', config)],
    },
  ];
  const only = config.transports;
  return only === undefined ? all : all.filter((t) => only.includes(t.id));
}
