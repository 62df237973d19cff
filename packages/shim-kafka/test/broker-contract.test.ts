import { brokerContract, streamContract } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { beforeAll } from 'vitest';
import { kafkaDescriptor } from '../src/testing.js';
import { assertKafkaRunning } from './kafka-env.js';

beforeAll(assertKafkaRunning);

// No restartBroker: the broker-restart case runs alone in faults.test.ts.
brokerContract(kafkaDescriptor);
streamContract(kafkaDescriptor, { stream });
