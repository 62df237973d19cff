import { brokerContract, restartLocalBroker, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { redisStreamsDescriptor } from '../src/testing.js';

brokerContract(redisStreamsDescriptor, { restartBroker: restartLocalBroker });
streamContract(redisStreamsDescriptor, { stream });
