import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueTopic, within } from '@proxystream/contract-tests';
import {
  FileStore,
  FileStoreFactory,
  isProxyReference,
  StreamConsumer,
  StreamProducer,
} from '@proxystream/stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_MESSAGE_SIZE, KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions } from './kafka-env.js';

beforeAll(assertKafkaRunning);

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await within(
    Promise.all(cleanup.splice(0).map((step) => step().catch(() => {}))),
    30_000,
    'cleanup',
  );
});

describe('StreamProducer → Kafka → StreamConsumer', () => {
  it('carries inline objects with their metadata, in order, to the end of the stream', async () => {
    const topic = uniqueTopic('kafka-e2e-inline');
    const subscriber = await KafkaSubscriber.subscribe(topic, subscriberOptions);
    const consumer = new StreamConsumer<{ id: number; text: string }>(subscriber, {
      topics: [topic],
    });
    cleanup.push(() => consumer.close());
    const producer = new StreamProducer<{ id: number; text: string }>(
      await KafkaPublisher.connect(publisherOptions),
      { batchSize: 4 },
    );
    cleanup.push(() => producer.close());

    const objects = Array.from({ length: 30 }, (_, id) => ({ id, text: `object ${id}` }));
    for (const object of objects)
      await producer.send(topic, object, { metadata: { id: object.id } });
    await producer.close({ topics: [topic] });

    const received: Array<{ id: number; text: string }> = [];
    const metadata: unknown[] = [];
    for await (const item of consumer.iterObjectsWithMetadata()) {
      received.push(item.object);
      metadata.push(item.metadata);
    }
    expect(received).toEqual(objects);
    expect(metadata).toEqual(objects.map(({ id }) => ({ id })));
  });

  it('carries a 64 MiB object through a file store: only its key crosses Kafka', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'proxystream-kafka-e2e-'));
    cleanup.push(() => rm(directory, { recursive: true, force: true }));
    const topic = uniqueTopic('kafka-e2e-file');
    const subscriber = await KafkaSubscriber.subscribe(topic, subscriberOptions);
    const consumer = new StreamConsumer<Uint8Array>(subscriber, {
      topics: [topic],
      stores: [new FileStoreFactory({ allowedRoots: [directory] })],
    });
    cleanup.push(() => consumer.close({ stores: true }));
    const store = new FileStore({ directory });
    const producer = new StreamProducer<Uint8Array>(
      await KafkaPublisher.connect(publisherOptions),
      {
        defaultStore: store,
      },
    );
    cleanup.push(() => producer.close({ stores: true }));

    const size = 64 * 1024 * 1024;
    expect(size).toBeGreaterThan(64 * DEFAULT_MAX_MESSAGE_SIZE); // Kafka alone could never carry it
    const big = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) big[i] = (i / 4096) % 251;
    await producer.send(topic, big, { metadata: { name: 'big' } });
    await producer.close({ topics: [topic] });

    const items = [];
    for await (const item of consumer) items.push(item);
    expect(items).toHaveLength(1);
    const reference = items[0];
    expect(isProxyReference(reference)).toBe(true);
    const resolved = (await (
      reference as { resolve(): Promise<Uint8Array> }
    ).resolve()) as Uint8Array;
    expect(resolved.byteLength).toBe(size);
    expect(Buffer.from(resolved).equals(Buffer.from(big))).toBe(true);
    // One-shot by default: resolving evicted the object (its file waits as `.free-<key>` for the
    // producer's next put, at most a second), and closing the consumer's stores deletes that too.
    expect((await readdir(directory)).filter((name) => !name.startsWith('.'))).toEqual([]);
    await consumer.close({ stores: true });
    expect(await readdir(directory)).toEqual([]);
  });
});
