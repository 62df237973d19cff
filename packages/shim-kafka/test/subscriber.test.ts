import {
  closeAfterEach,
  collect,
  drain,
  label,
  labels,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { AbortedError, BrokerError } from '@proxystream/protocols';
import { beforeAll, describe, expect, it } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions, texts } from './kafka-env.js';

beforeAll(assertKafkaRunning);

const { track } = closeAfterEach();

describe('kafka subscriber', () => {
  it('with fromBeginning: false starts after the messages already in the topic', async () => {
    const topic = uniqueTopic('kafka-latest');
    const pub = track(await KafkaPublisher.connect(publisherOptions));
    await pub.send(topic, label('old'));
    const sub = track(
      await KafkaSubscriber.subscribe(topic, { ...subscriberOptions, fromBeginning: false }),
    );
    await pub.send(topic, label('new'));
    expect(texts(await collect(sub, 1))).toEqual(['new']);
    expect(await drain(sub, 300)).toEqual([]);
  });

  it('pauses fetching at a small buffer and still delivers everything in order', async () => {
    const topic = uniqueTopic('kafka-slow');
    const sub = track(
      await KafkaSubscriber.subscribe(topic, {
        ...subscriberOptions,
        bufferMessages: 8,
        bufferBytes: 4096,
      }),
    );
    const pub = track(await KafkaPublisher.connect(publisherOptions));
    const sent = labels('slow', 500);
    await Promise.all(sent.map((item) => pub.send(topic, label(item))));
    const received: string[] = [];
    for (let i = 0; i < sent.length; i++) {
      received.push(...texts(await collect(sub, 1)));
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 150)); // a slow reader
    }
    expect(received).toEqual(sent);
  });

  it('rejects a topic that does not exist when not asked to create it', async () => {
    const topic = uniqueTopic('kafka-missing');
    const error = await KafkaSubscriber.subscribe(topic, {
      ...subscriberOptions,
      createTopics: false,
      consumer: { retry: { retries: 1, initialRetryTime: 100 } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).message).toContain('createKafkaTopics');
  });

  it('an already aborted signal rejects subscribe with AbortedError', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      KafkaSubscriber.subscribe(uniqueTopic('kafka-abort'), {
        ...subscriberOptions,
        signal: controller.signal,
      }),
    ).rejects.toBeInstanceOf(AbortedError);
  });

  it('close() while another member is joining returns promptly', async () => {
    const topic = uniqueTopic('kafka-close-busy');
    const group = `${topic}-group`;
    const first = track(await KafkaSubscriber.subscribe(topic, { ...subscriberOptions, group }));
    const joining = KafkaSubscriber.subscribe(topic, { ...subscriberOptions, group });
    await within(first.close(), 5_000, 'close during a rebalance');
    track(await joining);
  });
});
