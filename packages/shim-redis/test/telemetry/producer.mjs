// Producer process: sends `count` objects of `size` bytes through Redis Streams, their bytes in
// a Redis store, then ends the topic and prints its spans and metrics as one JSON line.
import { StreamProducer } from '@proxystream/stream';
import { registerSdk } from './sdk.mjs';

const [url, topic, count, size, prefix, shimModule] = process.argv.slice(2);
const sdk = registerSdk('producer');
const { RedisStore, RedisStreamsPublisher } = await import(shimModule);
const store = await RedisStore.create({ connection: url, prefix, name: `telemetry-${topic}` });
const publisher = await RedisStreamsPublisher.create({ connection: url });
const producer = new StreamProducer(publisher, { defaultStore: store });
for (let i = 0; i < Number(count); i++) {
  await producer.send(topic, new Uint8Array(Number(size)).fill(i), { metadata: { i } });
}
await producer.closeTopics(topic);
await producer.close({ stores: true });
process.stdout.write(`${JSON.stringify(await sdk.dump())}\n`);
