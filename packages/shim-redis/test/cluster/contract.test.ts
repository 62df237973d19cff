import { brokerContract, streamContract } from '@proxystream/contract-tests';
import { clusterDescriptors } from '@proxystream/shim-redis/testing';
import * as stream from '@proxystream/stream';
import { requireCluster } from './cluster-env.js';

// The whole broker contract and the stream end-to-end cases on the Redis Cluster, for each shim
// given an ioredis `Cluster`. No restartBroker: a cluster's node is killed by failover.test.ts.
requireCluster();
for (const descriptor of clusterDescriptors) {
  brokerContract(descriptor);
  streamContract(descriptor, { stream });
}
