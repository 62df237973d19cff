// Consumer process: reads the topic in a consumer group and hands every reference, as JSON, to a
// worker thread that resolves it; prints its own and the worker's spans and metrics.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { StreamConsumer } from '@proxystream/stream';
import { registerSdk } from './sdk.mjs';

const [url, topic, group, prefix, shimModule] = process.argv.slice(2);
const sdk = registerSdk('consumer');
const { RedisStoreFactory, RedisStreamsSubscriber } = await import(shimModule);
const server = new URL(url).host;
const subscriber = await RedisStreamsSubscriber.create(topic, { connection: url, group });
const consumer = new StreamConsumer(subscriber, {
  topics: [topic],
  stores: [new RedisStoreFactory({ allowedServers: [server], allowedPrefixes: [prefix] })],
});
const worker = new Worker(new URL('./resolver.mjs', import.meta.url), {
  workerData: { server, prefix, shimModule },
});
const replies = [];
worker.on('message', (message) => replies.push(message));
process.stdout.write('ready\n');
let sent = 0;
for await (const item of consumer) {
  if (!item.isReference) throw new Error('expected a reference');
  worker.postMessage(item.reference.toJSON());
  sent++;
}
worker.postMessage('done');
while (!replies.some((reply) => reply.dump !== undefined)) await once(worker, 'message');
await worker.terminate();
const own = await sdk.dump();
await consumer.close({ stores: true });
const fromWorker = replies.find((reply) => reply.dump !== undefined).dump;
const resolved = replies.filter((reply) => reply.bytes !== undefined).map((reply) => reply.bytes);
process.stdout.write(
  `${JSON.stringify({
    sent,
    resolved,
    spans: [...own.spans, ...fromWorker.spans],
    metrics: [...own.metrics, ...fromWorker.metrics],
  })}\n`,
);
