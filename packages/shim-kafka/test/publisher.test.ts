import {
  closeAfterEach,
  collect,
  expectCopiedUnlessOwned,
  label,
  labels,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import {
  AbortedError,
  ClosedError,
  InvalidArgumentError,
  MessageTooLargeError,
} from '@proxystream/protocols';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  KAFKA_CAPABILITIES,
  KafkaPublisher,
  KafkaSubscriber,
} from '../src/index.js';
import {
  assertKafkaRunning,
  countingClient,
  publisherOptions,
  subscriberOptions,
} from './kafka-env.js';

beforeAll(assertKafkaRunning);

const { track } = closeAfterEach();

describe('kafka publisher', () => {
  it('rejects a message above maxMessageSize before contacting the broker', async () => {
    const pub = track(await KafkaPublisher.create(publisherOptions));
    const error = await pub
      .send(uniqueTopic('kafka-big'), new Uint8Array(DEFAULT_MAX_MESSAGE_SIZE + 1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect((error as MessageTooLargeError).limit).toBe(DEFAULT_MAX_MESSAGE_SIZE);
    expect((error as MessageTooLargeError).cause).toBeUndefined();
  });

  it('copies each message unless the caller hands it over with { owned: true }', async () => {
    const topic = uniqueTopic('kafka-owned');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = track(await KafkaPublisher.create(publisherOptions));
    // kafkajs encodes the messages when the request goes out, after the sends of this task: the
    // warm-up send makes the topic first, so that both sends under test go in that request.
    await expectCopiedUnlessOwned(pub, sub, topic, { warmUp: true });
  });

  it("maps the broker's MESSAGE_TOO_LARGE to MessageTooLargeError and keeps sending", async () => {
    const topic = uniqueTopic('kafka-broker-big');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    // A publisher that believes in a larger limit than the broker's message.max.bytes (1 048 588).
    const pub = track(
      await KafkaPublisher.create({ ...publisherOptions, maxMessageSize: 2_000_000 }),
    );
    const error = await pub.send(topic, new Uint8Array(1_500_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect((error as MessageTooLargeError).size).toBe(1_500_000);
    expect((error as MessageTooLargeError).cause).toBeDefined();
    await pub.send(topic, label('after'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['after']);
  });

  it('coalesces concurrent sends into few requests that fit the broker limit', async () => {
    const topic = uniqueTopic('kafka-coalesce');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = track(await KafkaPublisher.create(publisherOptions));
    // 40 messages of 100 kB: 4 MB in all, more than one broker batch may hold.
    const payloads = Array.from({ length: 40 }, (_, i) => new Uint8Array(100_000).fill(i));
    await Promise.all(payloads.map((payload) => pub.send(topic, payload)));
    const received = await collect(sub, payloads.length);
    expect(received.map((message) => message[0])).toEqual(payloads.map((_, i) => i));
    expect(received.every((message) => message.byteLength === 100_000)).toBe(true);
  });

  it('round-trips gzip-compressed messages', async () => {
    const topic = uniqueTopic('kafka-gzip');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = track(await KafkaPublisher.create({ ...publisherOptions, compression: 'gzip' }));
    const sent = labels('zipped'.repeat(500), 50);
    await Promise.all(sent.map((item) => pub.send(topic, label(item))));
    expect((await collect(sub, sent.length)).map(readLabel)).toEqual(sent);
  });

  it('sends with acks: 1 (a producer that is then not idempotent)', async () => {
    const topic = uniqueTopic('kafka-acks1');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = track(await KafkaPublisher.create({ ...publisherOptions, acks: 1 }));
    await pub.send(topic, label('leader-only'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['leader-only']);
  });

  it('close() waits for accepted sends and later sends reject with ClosedError', async () => {
    const topic = uniqueTopic('kafka-close-pub');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = await KafkaPublisher.create(publisherOptions);
    const sent = labels('last', 300);
    const sends = sent.map((item) => pub.send(topic, label(item)));
    await pub.close();
    await Promise.all(sends);
    await expect(pub.send(topic, label('late'))).rejects.toBeInstanceOf(ClosedError);
    expect((await collect(sub, sent.length)).map(readLabel)).toEqual(sent);
  });

  it('an already aborted signal rejects create with AbortedError and connects no producer', async () => {
    const controller = new AbortController();
    controller.abort();
    const { kafka, made } = countingClient();
    await expect(
      KafkaPublisher.create({ connection: kafka, signal: controller.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(made).toEqual({ producer: 0, consumer: 0, admin: 0 });
  });

  it('send with an already aborted signal rejects with AbortedError and sends nothing', async () => {
    const topic = uniqueTopic('kafka-send-abort');
    const sub = track(await KafkaSubscriber.create(topic, subscriberOptions));
    const pub = track(await KafkaPublisher.create(publisherOptions));
    await expect(
      pub.send(topic, label('aborted'), { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortedError);
    await pub.send(topic, label('sent'));
    expect((await collect(sub, 1)).map(readLabel)).toEqual(['sent']);
  });

  it('rejects options out of range with InvalidArgumentError before connecting', async () => {
    const { kafka, made } = countingClient();
    for (const options of [
      { maxInFlightMessages: 0 },
      { maxInFlightBytes: -1 },
      { maxMessageSize: 1.5 },
      { lingerMs: -1 },
      { compression: 'brotli' as 'gzip' },
      { acks: 2 as 1 },
    ]) {
      await expect(KafkaPublisher.create({ connection: kafka, ...options })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    expect(made).toEqual({ producer: 0, consumer: 0, admin: 0 });
  });

  it('reports the exported capabilities with the default size, its own limit otherwise', async () => {
    const pub = track(await KafkaPublisher.create(publisherOptions));
    expect(pub.capabilities).toBe(KAFKA_CAPABILITIES);
    const smaller = track(
      await KafkaPublisher.create({ ...publisherOptions, maxMessageSize: 1000 }),
    );
    expect(smaller.capabilities).toEqual({ ...KAFKA_CAPABILITIES, maxMessageSize: 1000 });
  });

  it('await using closes the publisher at the end of the scope', async () => {
    const topic = uniqueTopic('kafka-pub-dispose');
    let kept: KafkaPublisher | undefined;
    {
      await using pub = await KafkaPublisher.create(publisherOptions);
      kept = pub;
      await pub.send(topic, label('before'));
    }
    await expect(kept.send(topic, label('after'))).rejects.toBeInstanceOf(ClosedError);
  });
});
