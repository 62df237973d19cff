// The NATS cases beyond the shared contract (contract.test.ts, faults.test.ts), in one file.
// Suites run in the order registered; the end-to-end tests run last.
import { coreBehaviour } from './suites/core-behaviour.js';
import { endToEnd } from './suites/end-to-end.js';
import { jetStreamBehaviour } from './suites/jetstream-behaviour.js';
import { objectStoreSuite } from './suites/object-store.js';

coreBehaviour();
jetStreamBehaviour();
objectStoreSuite();
endToEnd();
