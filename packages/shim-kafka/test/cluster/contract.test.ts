import { brokerContract, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { clusterDescriptors } from '../../src/testing.js';
import { requireCluster } from './cluster-env.js';

// The broker contract and the stream end-to-end cases on the 3-broker cluster (replication 3).
// No restartBroker: a node is killed by failover.test.ts.
requireCluster();
for (const descriptor of clusterDescriptors) {
  brokerContract(descriptor);
  streamContract(descriptor, { stream });
}
