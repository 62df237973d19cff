import * as stream from '@proxystream/stream';
import { shutdownSuite } from '../../../scripts/soak/shutdown-suite.mjs';
import * as redis from '../src/index.js';

shutdownSuite({
  stream,
  modules: { redis },
  names: ['redis-list', 'redis-streams', 'redis-pubsub'],
});
