import { failoverSuite } from '@proxystream/contract-tests';
import { clusterDescriptors } from '@proxystream/shim-nats/testing';
import * as stream from '@proxystream/stream';
import { env, requireCluster } from './cluster-env.js';

// Core NATS and JetStream on the cluster: the server of the subscriber (core) or leading the
// topic's stream (JetStream), and the server every client connects to first, are SIGKILLed a
// third of the way through a stream and restarted after it. No send throws; JetStream loses
// and duplicates nothing, core NATS reports every object it did not deliver.
requireCluster();
const core = clusterDescriptors.filter((descriptor) => !descriptor.capabilities.persistent);
const jetstream = clusterDescriptors.filter((descriptor) => descriptor.capabilities.persistent);
failoverSuite(core, { stream, env, events: 20_000 });
failoverSuite(jetstream, { stream, env, events: 3_000 });
