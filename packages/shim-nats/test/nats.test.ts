// One test file for the whole package: the fault cases restart the one nats-server, which would
// break cases of another file running at the same time in a parallel worker. Suites run in the
// order registered; the end-to-end tests run last.
import { coreBehaviour } from './suites/core-behaviour.js';
import { coreContract } from './suites/core-contract.js';
import { endToEnd } from './suites/end-to-end.js';
import { jetStreamBehaviour } from './suites/jetstream-behaviour.js';
import { jetStreamContract } from './suites/jetstream-contract.js';
import { objectStoreSuite } from './suites/object-store.js';

coreContract();
coreBehaviour();
jetStreamContract();
jetStreamBehaviour();
objectStoreSuite();
endToEnd();
