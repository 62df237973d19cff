// ad-hoc profiler driver (not part of the bench): node bench/prof-one.mjs <transport> <raw|stream> <size> <batch> <count>
import { parseConfig } from './dist/config.js';
import { transports } from './dist/transports.js';
import { timeThroughput } from './dist/runner.js';
const [t, kind, size, batch, count] = process.argv.slice(2);
const config = parseConfig([], process.cwd());
const tr = (await transports(config)).find((x) => x.id === t);
const c = tr.entries.find((e) => (e.kind === kind || e.name === kind) && !("unavailable" in e));
for (let i = 0; i < 3; i++) {
  const s = await timeThroughput(c, { size: +size, batch: +batch, window: 16, count: +count });
  console.log(c.name, Math.round(s.count / s.seconds), 'msg/s');
}
process.exit(0);
