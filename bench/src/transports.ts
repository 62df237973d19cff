import { brokerAddress, type ShimDescriptor } from '@proxystream/protocols/kit';
import { clusterLifecycle } from './cluster-lifecycle.js';
import type { BenchConfig } from './config.js';
import type { Contender } from './pipe.js';
import { rawMessageChannel, rawQueue } from './raw-inproc.js';
import { rawKafka } from './raw-kafka.js';
import { rawJetStream, rawNatsCore } from './raw-nats.js';
import { rawRedisList, rawRedisPubSub, rawRedisStreams } from './raw-redis.js';
import { redisCluster, redisServer } from './raw-redis-deployment.js';
import { rawThreads } from './raw-threads.js';
import { rawZmqPubSub, rawZmqPushPull } from './raw-zeromq.js';
import { brokerUnreachable } from './reachable.js';
import { type Entry, isUnavailable } from './runner.js';
import { shimStreamContender, streamContenderName } from './shim-adapters.js';
import { loadDescriptors } from './shims.js';
import {
  type EndpointFactory,
  streamContender,
  streamInProcessBytes,
  streamInProcessEvents,
} from './stream-pipe.js';
import { zmqPubSubDirect, zmqPushPullDirect } from './zmq-direct.js';

/** One broker (or broker mode) with its raw contenders (first = baseline) and stream contenders. */
export interface Transport {
  readonly id: string;
  readonly title: string;
  readonly entries: readonly Entry[];
  /** Whether the broker is a cluster (a shim's cluster descriptor). */
  readonly cluster: boolean;
  /** Most alternating rounds per cell: fewer where a pipe takes seconds to open (Kafka's group join). */
  readonly maxRepeats?: number;
  /** Why the broker cannot be reached now, or undefined; see {@link availableEntries}. */
  readonly unreachable?: () => Promise<string | undefined>;
  /** Starts what the transport needs (its cluster) before {@link unreachable} is asked. */
  readonly prepare?: () => Promise<void>;
}

/** Copies of the data on the clusters of `scripts/clusters.sh` (3 nodes each), as the shims keep them. */
const CLUSTER_REPLICAS = 3;

/**
 * The bench's own raw-client contenders, by the name of the shim descriptor they face, each
 * given its broker's address (from the descriptor's broker requirement; `''` for a brokerless
 * shim), with the shim's guarantee on the same broker or cluster. A shim without one is measured
 * alone.
 */
const RAW_CONTENDERS: Readonly<Record<string, (address: string) => Contender>> = {
  'redis-pubsub': (url) => rawRedisPubSub(redisServer(url)),
  'redis-list': (url) => rawRedisList(redisServer(url)),
  'redis-streams': (url) => rawRedisStreams(redisServer(url)),
  nats: rawNatsCore,
  jetstream: (address) => rawJetStream(address),
  kafka: (address) => rawKafka(address.split(',')),
  'zeromq-pubsub': rawZmqPubSub,
  'zeromq-pushpull': rawZmqPushPull,
  threads: rawThreads,
  'redis-pubsub-cluster': (urls) => rawRedisPubSub(redisCluster(urls)),
  'redis-list-cluster': (urls) => rawRedisList(redisCluster(urls)),
  'redis-streams-cluster': (urls) => rawRedisStreams(redisCluster(urls)),
  'nats-cluster': rawNatsCore,
  'jetstream-cluster': (urls) => rawJetStream(urls, CLUSTER_REPLICAS),
  'kafka-cluster': (brokers) => rawKafka(brokers.split(','), CLUSTER_REPLICAS),
};

/**
 * The shim's endpoints wired as the raw contender wires its own, where the descriptor's
 * rendezvous would add a hop the raw contender does not take (see zmq-direct.ts).
 */
const DIRECT_ENDPOINTS: Readonly<Record<string, EndpointFactory>> = {
  'zeromq-pubsub': zmqPubSubDirect,
  'zeromq-pushpull': zmqPushPullDirect,
};

/** Most rounds per cell of the shims of a package whose pipes take seconds to open. */
const MAX_REPEATS: Readonly<Record<string, number>> = {
  // Every Kafka pipe joins a consumer group: fewer rounds keep the sections within minutes.
  '@proxystream/shim-kafka': 3,
};

/** The transport of one descriptor: its raw contender (if the bench has one), then the shim's. */
function descriptorTransport(
  descriptor: ShimDescriptor,
  config: BenchConfig,
  cluster: boolean,
): Transport {
  const raw = RAW_CONTENDERS[descriptor.name];
  const entries: Entry[] = [];
  const broker = descriptor.broker;
  // A brokerless shim's raw contender makes its own sockets or ports (its address is '').
  if (raw !== undefined) {
    entries.push(raw(broker === undefined ? '' : brokerAddress(broker, config.env)));
  }
  const direct = cluster ? undefined : DIRECT_ENDPOINTS[descriptor.name];
  entries.push(
    direct === undefined
      ? shimStreamContender(descriptor, config)
      : streamContender(streamContenderName(descriptor.title), descriptor.name, direct),
  );
  const maxRepeats = MAX_REPEATS[descriptor.packageName];
  const start = cluster
    ? `bash scripts/clusters.sh start ${broker?.name ?? ''}`
    : `bash scripts/brokers.sh start ${broker?.name ?? ''}`;
  return {
    id: descriptor.name,
    title: descriptor.title,
    entries,
    cluster,
    ...(maxRepeats === undefined ? {} : { maxRepeats }),
    ...(broker === undefined
      ? {}
      : { unreachable: () => brokerUnreachable(broker, config.env, start) }),
    ...(cluster && broker !== undefined
      ? { prepare: () => clusterLifecycle(config.root).ensure(broker.name) }
      : {}),
  };
}

/**
 * The transports of the overhead and latency sections: the in-process ones, then one per shim
 * descriptor (in the order of the bench's dependencies and each package's `descriptors`), then,
 * unless {@link BenchConfig.clusters} leaves them out, one per cluster descriptor (each
 * package's `clusterDescriptors`); the descriptors of a package that cannot load are marked
 * unavailable. `--transports` keeps the transports it names.
 */
export async function transports(config: BenchConfig): Promise<Transport[]> {
  const only = config.transports;
  const withClusters = config.clusters ?? (!config.quick || only !== undefined);
  const all: Transport[] = [
    {
      id: 'inproc',
      title: 'in-process',
      entries: [rawQueue, rawMessageChannel, streamInProcessEvents, streamInProcessBytes],
      cluster: false,
    },
  ];
  const clusters: Transport[] = [];
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
        cluster: false,
      });
      continue;
    }
    for (const descriptor of found.descriptors) {
      all.push(descriptorTransport(descriptor, config, false));
    }
    if (withClusters) {
      for (const descriptor of found.clusterDescriptors) {
        clusters.push(descriptorTransport(descriptor, config, true));
      }
    }
  }
  all.push(...clusters);
  return only === undefined ? all : all.filter((t) => only.includes(t.id));
}

/**
 * The entries of `transport`, checked just before it runs (after starting its cluster, for a
 * cluster transport; see cluster-lifecycle.ts): when its broker does not accept
 * connections (a cluster that is not running, say), every entry becomes unavailable with the
 * reason, so that its rows say why instead of waiting for clients that retry.
 */
export async function availableEntries(transport: Transport): Promise<readonly Entry[]> {
  await transport.prepare?.();
  const reason = await transport.unreachable?.();
  if (reason === undefined) return transport.entries;
  return transport.entries.map((entry) => ({
    name: entry.name,
    kind: entry.kind,
    unavailable: isUnavailable(entry) ? entry.unavailable : reason,
  }));
}
