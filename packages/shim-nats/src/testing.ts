/**
 * The descriptors of the NATS shims, for the contract suite, the bench and the soak runner
 * (`@proxystream/shim-nats/testing`): how to make each shim from an environment, stated once.
 *
 * @packageDocumentation
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { MessagesLostError } from '@proxystream/protocols';
import {
  type BrokerRequirement,
  brokerAddress,
  type ClusterFailover,
  type DescriptorStore,
  type DescriptorSubscribeOptions,
  type ShimDescriptor,
  type ShimEnvironment,
} from '@proxystream/protocols/kit';
import { JETSTREAM_CAPABILITIES, NATS_CORE_CAPABILITIES } from './capabilities.js';
import type { NatsConnectionSettings } from './connection.js';
import { NatsPublisher } from './core-publisher.js';
import { NatsSubscriber } from './core-subscriber.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { ensureStream, type StreamSettings } from './jetstream-stream.js';
import { JetStreamSubscriber } from './jetstream-subscriber.js';
import { NatsObjectStore } from './object-store.js';
import { NatsObjectStoreFactory } from './object-store-factory.js';

/** The broker of every NATS descriptor: `NATS_URL`, else the local `scripts/brokers.sh start nats`. */
export const NATS_BROKER: BrokerRequirement = Object.freeze({
  name: 'nats',
  variable: 'NATS_URL',
  defaultAddress: 'nats://127.0.0.1:4222',
});

/** Topics every NATS shim must reject (wildcards, whitespace, empty tokens). */
export const INVALID_TOPICS: readonly string[] = Object.freeze([
  'a*b',
  'a.>',
  '*',
  '>',
  'a b',
  'tab\tbed',
  'new\nline',
  '.lead',
  'trail.',
  'dou..ble',
]);

/** The stream the JetStream descriptor keeps its topics in, apart from the default one. */
export const TEST_STREAM = Object.freeze({
  stream: 'PROXYSTREAM_TEST',
  subjectPrefix: 'proxystream-test',
} as const);

/**
 * Settings of {@link TEST_STREAM}: file storage (it survives the restart scenarios), limits
 * retention (every group reads the whole topic), messages kept 15 minutes.
 */
export const TEST_STREAM_SETTINGS: Readonly<StreamSettings> = Object.freeze({
  retention: 'limits',
  storage: 'file',
  maxAgeMs: 15 * 60_000,
});

/** The bucket of the object store descriptor; its objects expire after 15 minutes. */
export const TEST_BUCKET = 'proxystream-test';

/**
 * JetStream's ack wait in the descriptor, in ms: a delivery cut by a restart comes again (and is
 * waited for by `StreamConsumer`) within seconds, not the default 30 s; `fastRedelivery` (the
 * kill scenario) makes it shorter still.
 */
export const TEST_ACK_WAIT_MS = Object.freeze({ normal: 10_000, fast: 2_000 });

/** The group and signal a descriptor's caller asked for, without keys for what it did not. */
function subscribeOptions(options: DescriptorSubscribeOptions): {
  group?: string;
  signal?: AbortSignal;
} {
  return {
    ...(options.group === undefined ? {} : { group: options.group }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

/** The loss callback, for core NATS (a fan-out shim that drops and reports). */
function lossOptions(options: DescriptorSubscribeOptions): {
  onLoss?: (error: MessagesLostError) => void;
} {
  return options.onLoss === undefined ? {} : { onLoss: options.onLoss };
}

/** How the descriptors of one deployment (a single server, a cluster) reach it. */
interface Deployment {
  readonly broker: BrokerRequirement;
  /** The connection settings of the shims. */
  settings(env: ShimEnvironment): NatsConnectionSettings;
}

/** The servers `env` names for `broker`: a comma-separated list. */
function serversIn(broker: BrokerRequirement, env: ShimEnvironment): string[] {
  return brokerAddress(broker, env)
    .split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
}

const SINGLE: Deployment = Object.freeze({
  broker: NATS_BROKER,
  settings: (env: ShimEnvironment) => ({ servers: brokerAddress(NATS_BROKER, env) }),
});

/** Runs `work` on a raw client connection of its own, closed afterwards. */
async function withRawConnection<T>(
  deployment: Deployment,
  env: ShimEnvironment,
  work: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const nc = await connect(deployment.settings(env));
  try {
    return await work(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

function coreDescriptor(
  deployment: Deployment,
  names: { name: string; title: string },
  failover?: ClusterFailover,
): ShimDescriptor {
  return Object.freeze({
    ...names,
    packageName: '@proxystream/shim-nats',
    broker: deployment.broker,
    capabilities: NATS_CORE_CAPABILITIES,
    invalidTopics: INVALID_TOPICS,
    publisher: (env: ShimEnvironment) =>
      NatsPublisher.create({ connection: deployment.settings(env) }),
    subscriber: (env: ShimEnvironment, topic: string, options: DescriptorSubscribeOptions = {}) =>
      NatsSubscriber.create(topic, {
        connection: deployment.settings(env),
        ...subscribeOptions(options),
        ...lossOptions(options),
      }),
    publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array) =>
      withRawConnection(deployment, env, async (nc) => {
        nc.publish(topic, bytes);
        // The server has it once it answered this ping: publishes are buffered by the client.
        await nc.flush();
      }),
    ...(failover === undefined ? {} : { failover }),
  });
}

function objectStoreDescriptor(deployment: Deployment): DescriptorStore {
  return Object.freeze({
    create: (env: ShimEnvironment) =>
      NatsObjectStore.create({
        connection: deployment.settings(env),
        bucket: TEST_BUCKET,
        create: { ttlMs: 15 * 60_000 },
      }),
    factory: (env: ShimEnvironment) =>
      new NatsObjectStoreFactory({ allowedServers: serversIn(deployment.broker, env) }),
  });
}

function jetStreamDescriptorOn(
  deployment: Deployment,
  names: { name: string; title: string },
  store: DescriptorStore,
  failover?: ClusterFailover,
): ShimDescriptor {
  const settingsOf = deployment.settings;
  return Object.freeze({
    ...names,
    packageName: '@proxystream/shim-nats',
    broker: deployment.broker,
    capabilities: JETSTREAM_CAPABILITIES,
    invalidTopics: INVALID_TOPICS,
    publisher: (env: ShimEnvironment) =>
      JetStreamPublisher.create({
        connection: settingsOf(env),
        ...TEST_STREAM,
        createStream: TEST_STREAM_SETTINGS,
      }),
    subscriber: (env: ShimEnvironment, topic: string, options: DescriptorSubscribeOptions = {}) =>
      JetStreamSubscriber.create(topic, {
        connection: settingsOf(env),
        ...TEST_STREAM,
        createStream: TEST_STREAM_SETTINGS,
        ackWaitMs:
          options.fastRedelivery === true ? TEST_ACK_WAIT_MS.fast : TEST_ACK_WAIT_MS.normal,
        ...subscribeOptions(options),
      }),
    publishRaw: (env: ShimEnvironment, topic: string, bytes: Uint8Array) =>
      withRawConnection(deployment, env, async (nc) => {
        await jetstream(nc).publish(`${TEST_STREAM.subjectPrefix}.${topic}`, bytes);
      }),
    prepare: async (env: ShimEnvironment) => {
      await ensureStream({
        connection: settingsOf(env),
        name: TEST_STREAM.stream,
        subjectPrefix: TEST_STREAM.subjectPrefix,
        ...TEST_STREAM_SETTINGS,
      });
    },
    cleanup: (env: ShimEnvironment, topic: string) =>
      withRawConnection(deployment, env, async (nc) => {
        const subject = `${TEST_STREAM.subjectPrefix}.${topic}`;
        const jsm = await jetstreamManager(nc);
        try {
          // The topic's groups (durable consumers filtered on its subject), then its messages.
          for (const consumer of await jsm.consumers.list(TEST_STREAM.stream).next()) {
            if (consumer.config.filter_subject === subject) {
              await jsm.consumers.delete(TEST_STREAM.stream, consumer.name).catch(() => undefined);
            }
          }
          await jsm.streams.purge(TEST_STREAM.stream, { filter: subject });
        } catch {
          // No stream: nothing to clean.
        }
      }),
    store,
    // The broker loses nothing: a new group reads every event once. A batch whose delivery the
    // restart cut comes again after ackWaitMs, after later ones: StreamConsumer waits for it and
    // delivers it late, at most one pull (256 messages of 10 events) out of order.
    restart: Object.freeze({ stored: 'every-event-once', maxReordered: 2_560 }),
    ...(failover === undefined ? {} : { failover }),
  });
}

/** Core NATS: {@link NatsPublisher} and {@link NatsSubscriber}. */
export const natsDescriptor: ShimDescriptor = coreDescriptor(SINGLE, {
  name: 'nats',
  title: 'core NATS',
});

/**
 * The object store on the descriptors' server: the bucket {@link TEST_BUCKET}, and a factory
 * allowed to open that server only.
 */
export const natsObjectStoreDescriptor: DescriptorStore = objectStoreDescriptor(SINGLE);

/**
 * JetStream: {@link JetStreamPublisher} and {@link JetStreamSubscriber} on {@link TEST_STREAM}
 * (created on first use), with the object store.
 */
export const jetStreamDescriptor: ShimDescriptor = jetStreamDescriptorOn(
  SINGLE,
  {
    name: 'jetstream',
    title: 'JetStream',
  },
  natsObjectStoreDescriptor,
);

/** Every NATS descriptor. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([
  natsDescriptor,
  jetStreamDescriptor,
]);

/**
 * The cluster of the cluster descriptors: `NATS_CLUSTER_URLS` (comma-separated), else the local
 * `scripts/clusters.sh start nats` (3 servers with JetStream on 4250–4252).
 */
export const NATS_CLUSTER_BROKER: BrokerRequirement = Object.freeze({
  name: 'nats',
  variable: 'NATS_CLUSTER_URLS',
  defaultAddress: 'nats://127.0.0.1:4250,nats://127.0.0.1:4251,nats://127.0.0.1:4252',
});

/**
 * The cluster: every server, tried in the order given (`noRandomize`), so that every client of
 * a case is connected to the first one and the `'connected'` role names a known node.
 */
const CLUSTER: Deployment = Object.freeze({
  broker: NATS_CLUSTER_BROKER,
  settings: (env: ShimEnvironment) => ({
    servers: serversIn(NATS_CLUSTER_BROKER, env),
    noRandomize: true,
  }),
});

/** The client port of a server address (`nats://127.0.0.1:4251` → `'4251'`). */
function portOf(server: string): string {
  return /:(\d+)\/?$/.exec(server)?.[1] ?? '4222';
}

/** The client port of the cluster's server named `serverName` (its `server_name`). */
async function portOfServer(env: ShimEnvironment, serverName: string): Promise<string> {
  for (const server of serversIn(NATS_CLUSTER_BROKER, env)) {
    const nc = await connect({ servers: server, reconnect: false }).catch(() => undefined);
    if (nc === undefined) continue;
    const name = nc.info?.server_name;
    await nc.close().catch(() => undefined);
    if (name === serverName) return portOf(server);
  }
  throw new Error(`no server of ${NATS_CLUSTER_BROKER.variable} is named ${serverName}`);
}

/** The first server of the list: where every client of the cluster descriptors is connected. */
function connectedNode(env: ShimEnvironment): Promise<string> {
  return Promise.resolve(portOf(serversIn(NATS_CLUSTER_BROKER, env)[0] ?? ''));
}

/** Core NATS on the cluster: `'holder'` is the subscriber's server (the first), as is `'connected'`. */
const CORE_FAILOVER: ClusterFailover = Object.freeze({
  cluster: 'nats',
  roles: Object.freeze(['holder', 'connected']),
  node: (env: ShimEnvironment) => connectedNode(env),
});

/** JetStream on the cluster: `'holder'` is the leader of {@link TEST_STREAM}'s stream. */
const JETSTREAM_FAILOVER: ClusterFailover = Object.freeze({
  cluster: 'nats',
  roles: Object.freeze(['holder', 'connected']),
  node: async (env: ShimEnvironment, _topic: string, role: string) => {
    if (role !== 'holder') return connectedNode(env);
    const leader = await withRawConnection(CLUSTER, env, async (nc) => {
      const info = await (await jetstreamManager(nc)).streams.info(TEST_STREAM.stream);
      return info.cluster?.leader;
    });
    if (leader === undefined) throw new Error(`stream ${TEST_STREAM.stream} has no leader`);
    return portOfServer(env, leader);
  },
});

/**
 * The descriptors on a NATS cluster (`NATS_CLUSTER_URLS`): core NATS and JetStream (stream and
 * bucket replicated on up to 3 servers), with the object store, and the nodes the failover cases
 * kill.
 */
export const clusterDescriptors: readonly ShimDescriptor[] = Object.freeze([
  coreDescriptor(CLUSTER, { name: 'nats-cluster', title: 'core NATS on a cluster' }, CORE_FAILOVER),
  jetStreamDescriptorOn(
    CLUSTER,
    { name: 'jetstream-cluster', title: 'JetStream on a cluster' },
    objectStoreDescriptor(CLUSTER),
    JETSTREAM_FAILOVER,
  ),
]);
