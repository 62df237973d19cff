import { RedisPubSubSubscriber } from '@proxystream/shim-redis';
import { FileStoreFactory, StreamConsumer } from '@proxystream/stream';

/** Settings of the anchor's consumer, passed as JSON in argv[2]. */
export interface AnchorConsumerSettings {
  readonly topic: string;
  readonly redisUrl: string;
  /** The FileStore directory the producer writes to (the only allowed root). */
  readonly dir: string;
  readonly size: number;
  readonly count: number;
}

/** Messages from the child to the parent over the IPC channel. */
export type AnchorConsumerMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'done';
      /** `process.hrtime.bigint()` (CLOCK_MONOTONIC, shared by both processes) at the last object, as a string. */
      readonly end: string;
      readonly received: number;
    }
  | { readonly type: 'error'; readonly message: string };

// proxystream's consumer side of the anchor, in a process of its own as ProxyStore's is (a forked
// child): StreamConsumer over RedisPubSubSubscriber, iterObjects() resolving every object (from
// the FileStore for file cases, one-shot so each file is deleted once read).
const settings = JSON.parse(process.argv[2]!) as AnchorConsumerSettings;
const post = (message: AnchorConsumerMessage) =>
  new Promise<void>((resolve) => process.send!(message, () => resolve()));

try {
  const subscriber = await RedisPubSubSubscriber.create(settings.topic, {
    connection: settings.redisUrl,
  });
  const consumer = new StreamConsumer<Uint8Array>(subscriber, {
    topics: [settings.topic],
    stores: [new FileStoreFactory({ allowedRoots: [settings.dir] })],
  });
  await post({ type: 'ready' });
  let received = 0;
  let end = 0n;
  // Stops at the last object rather than at end-of-stream, so the figure does not depend on it.
  for await (const object of consumer.iterObjects()) {
    if (object.byteLength === settings.size) received++;
    if (received === settings.count) break;
  }
  end = process.hrtime.bigint();
  await consumer.close({ stores: true });
  await post({ type: 'done', end: String(end), received });
} catch (error) {
  await post({ type: 'error', message: (error as Error).message ?? String(error) });
}
process.disconnect?.();
