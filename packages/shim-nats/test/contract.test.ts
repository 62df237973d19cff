import { brokerContract, restartLocalBroker, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { descriptors } from '../src/testing.js';

// The package's files run one at a time (vitest.config.ts), so the broker-restart cases do not
// cut another file's connections.
for (const descriptor of descriptors) {
  brokerContract(descriptor, { restartBroker: restartLocalBroker, inactivityTimeoutMs: 5_000 });
  streamContract(descriptor, { stream });
}
