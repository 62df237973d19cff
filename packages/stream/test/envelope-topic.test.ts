import { DecodeError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { encodeBatch } from '../src/wire-codec.js';
import { topicName } from './helpers.js';

function envelope(topic: string, value: string, end = false): Uint8Array {
  return encodeBatch({
    topic,
    producerId: 'p',
    sequence: 0,
    events: [
      {
        type: 'new-object',
        metadata: {},
        evict: false,
        body: { kind: 'inline', data: defaultSerializer.serialize(value) },
      },
      ...(end ? [{ type: 'end-of-stream' as const }] : []),
    ],
  });
}

describe("an envelope naming another topic than the consumer's", () => {
  it('is a malformed message when the consumer lists its topics, and the stream goes on', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('own');
    const subscriber = await broker.subscriber(topic);
    const consumer = new StreamConsumer<string>(subscriber, { topics: [topic] });
    const publisher = broker.publisher();
    // A forged end of stream for another topic must neither end nor feed this one.
    await publisher.send(topic, envelope('someone-else', 'forged', true));
    await publisher.send(topic, envelope(topic, 'real', true));
    const error = await consumer.nextObject().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as Error).message).toContain('someone-else');
    expect(await consumer.nextObject()).toEqual({ done: false, value: 'real' });
    expect(await consumer.nextObject()).toEqual({ done: true, value: undefined });
  });

  it("is trusted without the topics option (the subscriber does not tell a message's topic)", async () => {
    const broker = new InProcessBroker();
    const topic = topicName('trusting');
    const consumer = new StreamConsumer<string>(await broker.subscriber(topic));
    await broker.publisher().send(topic, envelope('elsewhere', 'x', true));
    expect(await consumer.nextObject()).toEqual({ done: false, value: 'x' });
  });
});
