/**
 * One side of the memory section's stream, in its own process so that its RSS is its own:
 *   node memory-child.js producer|consumer <transport> <topic> <count> <size> <slowMs> <redisUrl>
 * Prints `ready` (consumer, once subscribed) and a final JSON line with the peak RSS.
 */
import { StreamConsumer, StreamProducer } from '@proxystream/stream';
import { descriptorNamed } from './shim-adapters.js';
import { now, payload, RssSampler, sleep } from './timing.js';

async function main(): Promise<void> {
  const [role, transport, topic, countText, sizeText, slowText, redisUrl] = process.argv.slice(2);
  const count = Number(countText);
  const size = Number(sizeText);
  const slowMs = Number(slowText);
  const descriptor = await descriptorNamed(transport!);
  if (typeof descriptor === 'string') throw new Error(descriptor);
  const env = { ...process.env, REDIS_URL: redisUrl };
  const lossy = descriptor.capabilities.slowConsumer === 'drops-reported';
  const sampler = new RssSampler(10);
  const start = now();
  if (role === 'consumer') {
    const consumer = new StreamConsumer<Uint8Array>(
      await descriptor.subscriber(env, topic!),
      // Pub/sub drops what the subscriber cannot buffer: count what arrives, end on the
      // end-of-stream event or after 3 s without a message.
      { topics: [topic!], ...(lossy ? { onGap: () => {} } : {}) },
    );
    console.log('ready');
    let received = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      if (!lossy) return;
      clearTimeout(idle);
      idle = setTimeout(() => void consumer.close(), 3000);
    };
    for (;;) {
      // A lossy shim's next() rejects with MessagesLostError where it dropped messages (the loss
      // rule); reading goes on after it.
      const result = await consumer.nextObject().catch((error: unknown) => {
        if ((error as { code?: unknown }).code === 'MESSAGES_LOST') return undefined;
        throw error;
      });
      if (result === undefined) continue;
      if (result.done === true) break;
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
    const producer = new StreamProducer<Uint8Array>(await descriptor.publisher(env));
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
