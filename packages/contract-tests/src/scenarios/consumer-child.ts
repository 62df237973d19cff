// The consumer process of the kill scenario (kill.ts): reads a topic in a group through the
// built packages and prints `got <index>` for each object it receives and `done <index>` just
// before asking for the next one (which acknowledges it). A little work per object makes a
// SIGKILL land mid-stream.
//
//   node consumer-child.js <testing module> <descriptor name> <stream module> <topic> <group>
//
// The modules are file paths: the shim package's built `./testing` entry, whose `descriptors`
// (or any export) holds the descriptor of that name, and the built `@proxystream/stream`.
import { pathToFileURL } from 'node:url';
import type { ShimDescriptor } from '@proxystream/protocols/kit';
import type { StreamModule } from '../stream-module.js';

function isDescriptor(value: unknown, name: string): value is ShimDescriptor {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === name &&
    typeof (value as { subscriber?: unknown }).subscriber === 'function'
  );
}

/** The descriptor named `name` among a testing module's exports. */
function findDescriptor(module: Record<string, unknown>, name: string): ShimDescriptor {
  const listed = Array.isArray(module.descriptors) ? (module.descriptors as unknown[]) : [];
  const found = [...listed, ...Object.values(module)].find((value) => isDescriptor(value, name));
  if (found === undefined) throw new Error(`the testing module exports no descriptor ${name}`);
  return found as ShimDescriptor;
}

try {
  const [testingPath, name, streamPath, topic, group] = process.argv.slice(2);
  if (group === undefined)
    throw new Error('usage: consumer-child <testing> <name> <stream> <topic> <group>');
  const testing = (await import(pathToFileURL(testingPath!).href)) as Record<string, unknown>;
  const stream = (await import(pathToFileURL(streamPath!).href)) as StreamModule;
  const descriptor = findDescriptor(testing, name!);
  const consumer = new stream.StreamConsumer(
    await descriptor.subscriber(process.env, topic!, { group }),
    { topics: [topic!] },
  );
  for (;;) {
    const result = await consumer.nextObject();
    if (result.done === true) break;
    process.stdout.write(`got ${String(result.value)}\n`);
    // Work: 1 ms per object, without blocking the event loop.
    await new Promise((resolve) => setTimeout(resolve, 1));
    process.stdout.write(`done ${String(result.value)}\n`);
  }
  process.stdout.write('end\n');
} catch (error) {
  process.stdout.write(`error ${String(error).replaceAll('\n', ' ')}\n`);
  process.exitCode = 1;
}
