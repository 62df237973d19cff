import { brokerContract, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { redisPubSubDescriptor } from '../src/testing.js';

// No restartBroker: reconnect and resubscribe are shown by pubsub.test.ts with CLIENT KILL, in
// seconds; the broker-restart case runs in faults.test.ts.
brokerContract(redisPubSubDescriptor);
streamContract(redisPubSubDescriptor, { stream });
