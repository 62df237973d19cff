/**
 * One side of the memory section's stream, in its own process so that its RSS is its own:
 *   node memory-child.js producer|consumer <transport> <topic> <count> <size> <slowMs> <redisUrl>
 * Prints `ready` (consumer, once subscribed) and a final JSON line with the peak RSS.
 */
import type { Publisher, Subscriber } from '@proxystream/protocols';
import { StreamConsumer, StreamProducer } from '@proxystream/stream';
import { loadShim } from './shims.js';
import { now, payload, RssSampler, sleep } from './timing.js';

type Shim = Record<
  string,
  (new (
    options: object,
  ) => Publisher) & { create(topic: string, options: object): Promise<Subscriber> }
>;

async function main(): Promise<void> {
  const [role, transport, topic, countText, sizeText, slowText, redisUrl] = process.argv.slice(2);
  const count = Number(countText);
  const size = Number(sizeText);
  const slowMs = Number(slowText);
  const module = await loadShim('@proxystream/shim-redis');
  if ('reason' in module) throw new Error(module.reason);
  const shim = module.exports as Shim;
  const prefix =
    transport === 'redis-list'
      ? 'RedisQueue'
      : transport === 'redis-pubsub'
        ? 'RedisPubSub'
        : 'RedisStreams';
  const lossy = transport === 'redis-pubsub';
  const connection = {
    connection: redisUrl,
    ...(transport === 'redis-streams' ? { start: 'beginning' } : {}),
  };
  const sampler = new RssSampler(10);
  const start = now();
  if (role === 'consumer') {
    const consumer = new StreamConsumer<Uint8Array>(
      await shim[`${prefix}Subscriber`]!.create(topic!, connection),
      // Pub/sub drops what the subscriber cannot buffer: count what arrives, end on the
      // end-of-stream event or after 3 s without a message.
      { topics: [topic!], ...(lossy ? { onGap: 'ignore' as const } : {}) },
    );
    console.log('ready');
    let received = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      if (!lossy) return;
      clearTimeout(idle);
      idle = setTimeout(() => void consumer.close(), 3000);
    };
    for await (const _ of consumer) {
      received++;
      arm();
      if (slowMs > 0) await sleep(slowMs);
      if (received === count) break;
    }
    clearTimeout(idle);
    await consumer.close().catch(() => undefined);
    console.log(
      JSON.stringify({
        peakRss: sampler.stop(),
        baseRss: sampler.base,
        received,
        seconds: (now() - start) / 1000,
      }),
    );
  } else {
    const Publisher = shim[`${prefix}Publisher`]!;
    const producer = new StreamProducer<Uint8Array>(new Publisher({ connection: redisUrl }));
    const data = payload(size, 5);
    for (let i = 0; i < count; i++) await producer.send(topic!, data);
    await producer.close({ topics: [topic!] });
    console.log(
      JSON.stringify({
        peakRss: sampler.stop(),
        baseRss: sampler.base,
        sent: count,
        seconds: (now() - start) / 1000,
      }),
    );
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
