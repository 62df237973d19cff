import { failoverSuite } from '@proxystream/contract-tests';
import { clusterDescriptors } from '@proxystream/shim-redis/testing';
import * as stream from '@proxystream/stream';
import { env, requireCluster } from './cluster-env.js';

// For each Redis shim on the cluster: the master of the topic's slot is SIGKILLed a third of the
// way through a stream and restarted after it; no send throws, the persistent shims lose and
// duplicate nothing, pub/sub reports every object it did not deliver.
requireCluster();
failoverSuite(clusterDescriptors, { stream, env, events: 10_000 });
