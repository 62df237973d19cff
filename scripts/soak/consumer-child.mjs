// A consumer process for the kill scenario (scenarios.mjs): reads a topic in a group on the built
// packages and prints `got <index>` for each object it receives and `done <index>` just before
// asking for the next one (which acknowledges it). Does a little work per object so that a SIGKILL lands mid-stream.
//
//   node scripts/soak/consumer-child.mjs <redis|nats|kafka> <shim> <topic> <group>

import { loadDist, loadShimModules } from './dist.mjs';
import { shimAdapters } from './shims.mjs';

const [module, shimName, topic, group] = process.argv.slice(2);
try {
  const { StreamConsumer } = await loadDist('stream');
  const shim = shimAdapters(await loadShimModules([module]))[shimName];
  if (shim === undefined) throw new Error(`unknown shim ${shimName}`);
  const consumer = new StreamConsumer(await shim.subscriber(topic, { group }), {
    topics: [topic],
  });
  for await (const index of consumer) {
    process.stdout.write(`got ${index}\n`);
    // Work: 1 ms per object, without blocking the event loop.
    await new Promise((resolve) => setTimeout(resolve, 1));
    process.stdout.write(`done ${index}\n`);
  }
  process.stdout.write('end\n');
} catch (error) {
  process.stdout.write(`error ${String(error).replaceAll('\n', ' ')}\n`);
  process.exitCode = 1;
}
