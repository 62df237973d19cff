#!/usr/bin/env node
// The soak run: broker restarts, consumer kills and long load runs on real brokers, on the built
// packages (run `pnpm build` first), for every shim descriptor of the workspace (each package's
// `./testing` entry). The scenarios are those of @proxystream/contract-tests; which ones a shim
// gets comes from its capabilities. Prints one JSON line of figures per scenario and shim, and a
// table at the end (the source of docs/reliability.md).
//
//   node scripts/soak/run.mjs [--events 100000] [--load-events 1000000]
//                             [--restart-batch 10] [--batches-in-flight 1]
//                             [--shim redis-list,jetstream,...] [--scenario restart,kill,kill-stream,load]
//
// Restarts use `bash scripts/brokers.sh restart <broker>`: do not run it while others use the
// brokers. For Redis, a private instance avoids that: `REDIS_PORT=6391 bash scripts/brokers.sh
// start redis`, then `REDIS_URL=redis://127.0.0.1:6391 node scripts/soak/run.mjs --shim redis-list`.

import { parseArgs } from 'node:util';
import { distPath, loadDescriptors, loadDist } from './dist.mjs';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    'load-events': { type: 'string', default: '1000000' },
    'kill-events': { type: 'string', default: '20000' },
    'load-batch': { type: 'string', default: '10' },
    // Restart scenario: objects per batch of the persistent shims, and the producer's
    // maxBatchesInFlight (batches sent before the earlier ones were accepted).
    'restart-batch': { type: 'string', default: '10' },
    'batches-in-flight': { type: 'string', default: '1' },
    repeat: { type: 'string', default: '1' },
    shim: { type: 'string' },
    scenario: { type: 'string', default: 'restart,kill,kill-stream,load' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'node scripts/soak/run.mjs [--events N] [--load-events N] [--kill-events N] [--load-batch N]\n' +
      '  [--restart-batch N] [--batches-in-flight N] [--repeat N] [--shim a,b] [--scenario restart,kill,kill-stream,load]\n' +
      'Shims: the names of the descriptors (every one by default).\n' +
      'REDIS_URL=redis://127.0.0.1:<port> runs on (and restarts) a private Redis started with\n' +
      'REDIS_PORT=<port> bash scripts/brokers.sh start redis.\n',
  );
  process.exit(0);
}
const available = await loadDescriptors();
const names = available.map(({ descriptor }) => descriptor.name);
const wanted = values.shim === undefined ? names : values.shim.split(',');
for (const name of wanted) {
  if (!names.includes(name)) throw new Error(`unknown shim ${name} (known: ${names.join(', ')})`);
}
const scenarios = values.scenario.split(',');
const stream = await loadDist('stream');
const { killScenario, loadScenario, restartLocalBroker, restartScenario } = await loadDist(
  'contract-tests',
  'scenarios/index.js',
);
const streamEntry = distPath('stream');

const rows = [];
const repeat = Number(values.repeat);
for (const scenario of scenarios) {
  for (const name of wanted.flatMap((shim) => Array(repeat).fill(shim))) {
    const { descriptor, testing } = available.find((entry) => entry.descriptor.name === name);
    const { persistent, acknowledged, competingConsumers } = descriptor.capabilities;
    let result;
    if (scenario === 'restart') {
      if (descriptor.broker === undefined) continue;
      result = await restartScenario({
        descriptor,
        stream,
        events: Number(values.events),
        batchSize: persistent ? Number(values['restart-batch']) : 1,
        producerOptions: { maxBatchesInFlight: Number(values['batches-in-flight']) },
        restart: () => restartLocalBroker(descriptor.broker),
      });
    } else if (scenario === 'kill' || scenario === 'kill-stream') {
      if (!(acknowledged && competingConsumers)) continue;
      result = await killScenario({
        descriptor,
        stream,
        child: { testing, stream: streamEntry },
        events: Number(values['kill-events']),
        second: scenario === 'kill' ? 'subscriber' : 'stream',
      });
    } else if (scenario === 'load') {
      if (!persistent) continue;
      result = await loadScenario({
        descriptor,
        stream,
        events: Number(values['load-events']),
        batchSize: Number(values['load-batch']),
      });
    } else {
      throw new Error(`unknown scenario ${scenario}`);
    }
    console.log(JSON.stringify(result));
    rows.push(result);
  }
}

console.log(
  `\n${new Date().toISOString()}  node scripts/soak/run.mjs ${process.argv.slice(2).join(' ')}`,
);
console.log('| scenario | shim | events | lost | duplicated | detected | time to recover |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const lost = r.lost ?? r.missing;
  const detected =
    r.scenario === 'broker restart'
      ? `${r.missingReported} reported missing, ${r.unreported} unreported`
      : r.scenario === 'load'
        ? `${r.reordered} out of order; ${r.eventsPerSecond} events/s; RSS ${r.rss.secondQuarterPeakMiB} → ${r.rss.lastQuarterPeakMiB} MiB, heap ${r.rss.heapSecondQuarterPeakMiB} → ${r.rss.heapLastQuarterPeakMiB} MiB`
        : `${r.gapsReported} gap reports`;
  const recover = r.recoveryMs === undefined ? '—' : `${r.recoveryMs} ms`;
  const scenario = r.second === 'stream' ? `${r.scenario} (StreamConsumer)` : r.scenario;
  console.log(
    `| ${scenario} | ${r.shim} | ${r.events} | ${lost} | ${r.duplicates} | ${detected} | ${recover} |`,
  );
}
// Clients the shims made are closed; anything left (a kafkajs timer) must not keep the run alive.
process.exit(0);
