import { brokerContract, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { zmqPubSubDescriptor, zmqPushPullDescriptor } from '../src/testing.js';

brokerContract(zmqPubSubDescriptor);
streamContract(zmqPubSubDescriptor, { stream });
brokerContract(zmqPushPullDescriptor);
streamContract(zmqPushPullDescriptor, { stream });
