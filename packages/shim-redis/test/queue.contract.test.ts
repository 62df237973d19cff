import { brokerContract, restartLocalBroker, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { redisListDescriptor } from '../src/testing.js';

brokerContract(redisListDescriptor, { restartBroker: restartLocalBroker });
streamContract(redisListDescriptor, { stream });
