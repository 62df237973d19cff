import {
  brokerContract,
  collect,
  drain,
  streamContract,
  waitFor,
} from '@proxystream/contract-tests';
import {
  ClosedError,
  type EventBatch,
  InvalidArgumentError,
  isEventSubscriber,
} from '@proxystream/protocols';
import * as stream from '@proxystream/stream';
import { describe, expect, it } from 'vitest';
import { InProcessBroker } from '../src/index.js';
import { inProcessDescriptor } from '../src/testing.js';

const broker = new InProcessBroker({ capacity: 256, maxMessageSize: 1024 * 1024 });

brokerContract(inProcessDescriptor(broker), {
  inactivityTimeoutMs: 5_000,
  backpressureBound: 1_000,
});
streamContract(inProcessDescriptor(broker), { stream });

describe('in-process broker: event variant', () => {
  const batch = (topic: string, sequence: number): EventBatch => ({
    topic,
    producerId: 'p1',
    sequence,
    events: [
      {
        type: 'new-object',
        metadata: {},
        evict: false,
        body: { kind: 'live', value: { n: sequence } },
      },
    ],
  });

  it('passes event batches by reference, without a copy', async () => {
    const events = new InProcessBroker();
    const subscriber = await events.eventSubscriber('ev-ref');
    expect(isEventSubscriber(subscriber)).toBe(true);
    const sent = batch('ev-ref', 0);
    await events.eventPublisher().sendEvents(sent);
    const [received] = await collect(subscriber, 1);
    expect(received).toBe(sent);
    await events.close();
  });

  it('keeps byte and event subscribers of one topic apart', async () => {
    const both = new InProcessBroker();
    const bytes = await both.subscriber('shared');
    const events = await both.eventSubscriber('shared');
    await both.eventPublisher().sendEvents(batch('shared', 0));
    await both.publisher().send('shared', new Uint8Array([7]));
    expect(await collect(bytes, 1)).toEqual([new Uint8Array([7])]);
    expect((await collect(events, 1))[0]?.sequence).toBe(0);
    expect(await drain(bytes, 100)).toEqual([]);
    await both.close();
  });

  it('a slow event subscriber makes sendEvents wait', async () => {
    const small = new InProcessBroker({ capacity: 4 });
    const subscriber = await small.eventSubscriber('ev-slow');
    const publisher = small.eventPublisher();
    let accepted = 0;
    const sending = (async () => {
      for (let i = 0; i < 10; i++) {
        await publisher.sendEvents(batch('ev-slow', i));
        accepted++;
      }
    })();
    await waitFor(() => accepted >= 4, 1_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(accepted).toBeLessThan(10);
    const received = await collect(subscriber, 10);
    await sending;
    expect(received.map((b) => b.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await small.close();
  });

  it('rejects sends after the broker closed, and a group it cannot honour', async () => {
    const closing = new InProcessBroker();
    await expect(closing.subscriber('t', { group: 'g' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await closing.close();
    await expect(closing.publisher().send('t', new Uint8Array(1))).rejects.toBeInstanceOf(
      ClosedError,
    );
    await expect(closing.eventPublisher().sendEvents(batch('t', 0))).rejects.toBeInstanceOf(
      ClosedError,
    );
  });
});
