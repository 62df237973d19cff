import { brokerContract, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { threadsDescriptor } from '../src/testing.js';

// Publishers, subscribers and the broker in one thread, over real MessagePorts: the shim must
// work there too. threads-workers.test.ts runs it across worker_threads.
brokerContract(threadsDescriptor, { inactivityTimeoutMs: 5_000 });
streamContract(threadsDescriptor, { stream });
