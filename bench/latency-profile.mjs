// Latency diagnostic (not part of `pnpm bench`): runs the raw and the stream contender of one
// transport as the latency section does (1 KiB, paced, default producer, each send awaited) and
// says where the slowest 1 % of messages spent their time. Build first (`pnpm --filter @proxystream/bench build`).
//   node bench/latency-profile.mjs <transport> [rounds] [count] [rate]
// e.g. node bench/latency-profile.mjs inproc 3 2000 1000
// For each run: p50 and p99 of the one-way latency; of the messages at or above the p99, how many
// had a garbage collection pause overlapping them (and the summed pause), and how much of their
// latency came before `send` resolved (producer and shim) and after (broker and consumer); the
// slowest message, the longest run of consecutive tail messages (a stall shows as a run), and where
// in the run the tail falls, by tenths. The pacing is the latency section's own (`pacedRun`).
import { PerformanceObserver } from 'node:perf_hooks';
import { parseConfig } from './dist/config.js';
import { pacedRun, SIZE, WARM_UP_INTERVAL_MS, WARM_UP_SENDS } from './dist/latency.js';
import { transports } from './dist/transports.js';

const [id, roundsArg = '3', countArg = '2000', rateArg = '1000'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const count = Number(countArg);
const rate = Number(rateArg);
const config = parseConfig([], process.cwd());
const transport = (await transports(config)).find((t) => t.id === id);
if (transport === undefined) throw new Error(`no transport ${id}`);
const contenders = transport.entries.filter(
  (e) => (e.kind === 'raw' || e.kind === 'stream') && !('unavailable' in e),
);

const gcs = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries())
    gcs.push({ start: entry.startTime, end: entry.startTime + entry.duration });
}).observe({ entryTypes: ['gc'] });

async function run(contender) {
  let records;
  let received = 0;
  const record = (i) => {
    records[i] ??= { sent: Number.NaN, resolved: Number.NaN, arrived: Number.NaN };
    return records[i];
  };
  const pipe = await contender.open({
    size: SIZE,
    batch: 1,
    defaultProducer: true,
    onItem: (item) => {
      const arrived = performance.now();
      received++;
      if (records === undefined) return;
      const view = new DataView(item.buffer, item.byteOffset, 12);
      const r = record(view.getUint32(8, true));
      r.sent = view.getFloat64(0, true);
      r.arrived = arrived;
    },
  });
  try {
    await pacedRun(pipe, () => received, WARM_UP_SENDS, WARM_UP_INTERVAL_MS);
    received = 0;
    records = new Array(count);
    gcs.length = 0;
    await pacedRun(
      pipe,
      () => received,
      count,
      1000 / rate,
      (i, _sent, resolved) => {
        record(i).resolved = resolved;
      },
    );
    return { records, gcs: [...gcs] };
  } finally {
    await pipe.close().catch(() => undefined);
  }
}

function report(name, { records, gcs: pauses }) {
  const latencies = records.map((r) => (r.arrived - r.sent) * 1000);
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const p99 = at(0.99);
  const tail = records.filter((_, i) => latencies[i] >= p99);
  let withGc = 0;
  let gcMs = 0;
  let before = 0;
  for (const r of tail) {
    const overlapping = pauses.filter((g) => g.start < r.arrived && g.end > r.sent);
    if (overlapping.length > 0) withGc++;
    for (const g of overlapping) gcMs += Math.min(g.end, r.arrived) - Math.max(g.start, r.sent);
    before += r.resolved <= r.arrived ? r.resolved - r.sent : r.arrived - r.sent;
  }
  const tenths = new Array(10).fill(0);
  for (let i = 0; i < records.length; i++) {
    if (latencies[i] >= p99) tenths[Math.floor((i * 10) / records.length)]++;
  }
  // A stall of the process or broker delays the messages sent during it: a run of consecutive
  // tail messages (its length ≈ the stall in ms at 1 000 msg/s) rather than scattered ones.
  let longest = 0;
  let current = 0;
  for (let i = 0; i < records.length; i++) {
    current = latencies[i] >= p99 ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  const total = tail.reduce((s, r) => s + (r.arrived - r.sent), 0);
  const gcAll = pauses.reduce((s, g) => s + (g.end - g.start), 0);
  console.log(
    [
      name.padEnd(44),
      `p50 ${at(0.5).toFixed(0)}`,
      `p99 ${p99.toFixed(0)} µs`,
      `tail ${tail.length}: ${withGc} under GC (${((gcMs / total) * 100).toFixed(0)} % of tail time)`,
      `before send resolved ${((before / total) * 100).toFixed(0)} %`,
      `max ${sorted[sorted.length - 1].toFixed(0)} µs`,
      `longest run of consecutive tail messages ${longest}`,
      `tail by tenth of the run ${tenths.join(' ')}`,
      `GC in the run ${pauses.length}× ${(gcAll * 1000).toFixed(0)} µs`,
    ].join(' · '),
  );
}

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  for (const contender of order) report(contender.name, await run(contender));
}
process.exit(0);
