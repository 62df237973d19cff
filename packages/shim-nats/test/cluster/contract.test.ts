import { brokerContract, streamContract } from '@proxystream/contract-tests';
import { clusterDescriptors } from '@proxystream/shim-nats/testing';
import * as stream from '@proxystream/stream';
import { requireCluster } from './cluster-env.js';

// The whole broker contract and the stream end-to-end cases on the NATS cluster, for core NATS
// and JetStream given every server. No restartBroker: a node is killed by failover.test.ts.
requireCluster();
for (const descriptor of clusterDescriptors) {
  brokerContract(descriptor);
  streamContract(descriptor, { stream });
}
