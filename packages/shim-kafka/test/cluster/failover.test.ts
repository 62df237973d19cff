import { failoverSuite } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { clusterDescriptors } from '../../src/testing.js';
import { env, requireCluster } from './cluster-env.js';

// The leader of the topic's partition, then the first broker of the list, is SIGKILLed a third
// of the way through a stream and restarted after it: no send throws, nothing is lost or
// duplicated to the application.
requireCluster();
failoverSuite(clusterDescriptors, { stream, env });
