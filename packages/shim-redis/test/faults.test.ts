import { faultSuite, restartLocalBroker } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { descriptors } from '../src/testing.js';

// Reduced sizes of the soak run (node scripts/soak/run.mjs), on the sources; the cases and their
// expectations come from the descriptors. The kill cases' consumer process runs on the built
// packages (CI builds before testing).
faultSuite(descriptors, {
  stream,
  restartBroker: restartLocalBroker,
  resolveFrom: import.meta.url,
});
