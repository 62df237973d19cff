import * as stream from '@proxystream/stream';
import { shutdownSuite } from '../../../scripts/soak/shutdown-suite.mjs';
import * as kafka from '../src/index.js';

shutdownSuite({ stream, modules: { kafka }, names: ['kafka'] });
