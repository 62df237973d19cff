import * as stream from '@proxystream/stream';
import { shutdownSuite } from '../../../scripts/soak/shutdown-suite.mjs';
import * as nats from '../src/index.js';

shutdownSuite({ stream, modules: { nats }, names: ['jetstream', 'nats-core'] });
