// Profiling driver (not part of `pnpm bench`): times one contender of the overhead section, three
// runs, so that `node --cpu-prof` sees just that path. Build first (`pnpm --filter @proxystream/bench build`).
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.mjs <transport> <raw|stream|contender name> <size> <batch> <count> [window] [default]
// e.g. node --cpu-prof bench/profile.mjs nats stream 1024 1 100000
//      node --cpu-prof bench/profile.mjs kafka stream 1024 1 20000 1 default   # default producer, 1 send in flight
import { parseConfig } from './dist/config.js';
import { timeThroughput } from './dist/runner.js';
import { transports } from './dist/transports.js';

const [id, kind, size, batch, count, window, mode] = process.argv.slice(2);
const config = parseConfig([], process.cwd());
const transport = (await transports(config)).find((t) => t.id === id);
const contender = transport?.entries.find(
  (e) => (e.kind === kind || e.name === kind) && !('unavailable' in e),
);
if (contender === undefined) throw new Error(`no contender ${kind} on transport ${id}`);
for (let i = 0; i < 3; i++) {
  const cpu = process.cpuUsage();
  const sample = await timeThroughput(contender, {
    size: Number(size),
    batch: Number(batch),
    window: window === undefined ? config.window : Number(window),
    count: Number(count),
    // The producer's defaults (adaptive batches) instead of a fixed batchSize, as the overhead
    // section's default-producer table runs it.
    defaultProducer: mode === 'default',
  });
  // CPU time of this process per message (both ends, warm-up included): steadier than msg/s when
  // other work shares the machine.
  const used = process.cpuUsage(cpu);
  const perMessage = (used.user + used.system) / Number(count);
  console.log(
    contender.name,
    Math.round(sample.count / sample.seconds),
    'msg/s',
    perMessage.toFixed(2),
    'µs CPU/msg',
  );
}
process.exit(0);
