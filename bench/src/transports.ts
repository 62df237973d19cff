import { brokerAddress } from '@proxystream/protocols/kit';
import type { BenchConfig } from './config.js';
import type { Contender } from './pipe.js';
import { rawMessageChannel, rawQueue } from './raw-inproc.js';
import { rawKafka } from './raw-kafka.js';
import { rawJetStream, rawNatsCore } from './raw-nats.js';
import { rawRedisList, rawRedisPubSub, rawRedisStreams } from './raw-redis.js';
import { rawThreads } from './raw-threads.js';
import { rawZmqPubSub, rawZmqPushPull } from './raw-zeromq.js';
import type { Entry } from './runner.js';
import { shimStreamContender, streamContenderName } from './shim-adapters.js';
import { loadDescriptors } from './shims.js';
import { streamInProcessBytes, streamInProcessEvents } from './stream-pipe.js';

/** One broker (or broker mode) with its raw contenders (first = baseline) and stream contenders. */
export interface Transport {
  readonly id: string;
  readonly title: string;
  readonly entries: readonly Entry[];
}

/**
 * The bench's own raw-client contenders, by the name of the shim descriptor they face, each
 * given its broker's address (from the descriptor's broker requirement; `''` for a brokerless
 * shim). A shim without one is measured alone.
 */
const RAW_CONTENDERS: Readonly<Record<string, (address: string) => Contender>> = {
  'redis-pubsub': rawRedisPubSub,
  'redis-list': rawRedisList,
  'redis-streams': rawRedisStreams,
  nats: rawNatsCore,
  jetstream: rawJetStream,
  kafka: (address) => rawKafka(address.split(',')),
  'zeromq-pubsub': rawZmqPubSub,
  'zeromq-pushpull': rawZmqPushPull,
  threads: rawThreads,
};

/**
 * The transports of the overhead and latency sections: the in-process ones, then one per shim
 * descriptor (in the order of the bench's dependencies and each package's `descriptors`); the
 * descriptors of a package that cannot load are marked unavailable.
 */
export async function transports(config: BenchConfig): Promise<Transport[]> {
  const all: Transport[] = [
    {
      id: 'inproc',
      title: 'in-process',
      entries: [rawQueue, rawMessageChannel, streamInProcessEvents, streamInProcessBytes],
    },
  ];
  for (const found of await loadDescriptors()) {
    if ('reason' in found) {
      all.push({
        id: found.packageName,
        title: found.packageName,
        entries: [
          {
            name: streamContenderName(found.packageName),
            kind: 'stream',
            unavailable: found.reason,
          },
        ],
      });
      continue;
    }
    for (const descriptor of found.descriptors) {
      const raw = RAW_CONTENDERS[descriptor.name];
      const entries: Entry[] = [];
      // A brokerless shim's raw contender makes its own sockets or ports (its address is '').
      if (raw !== undefined) {
        entries.push(
          raw(descriptor.broker === undefined ? '' : brokerAddress(descriptor.broker, config.env)),
        );
      }
      entries.push(shimStreamContender(descriptor, config));
      all.push({ id: descriptor.name, title: descriptor.title, entries });
    }
  }
  const only = config.transports;
  return only === undefined ? all : all.filter((t) => only.includes(t.id));
}
