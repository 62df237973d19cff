import { describe, expect, it } from 'vitest';
import {
  InProcessBroker,
  ThreadsBroker,
  ThreadsPublisher,
  ThreadsSubscriber,
} from '../src/index.js';

describe('messaging attributes of the brokers inside one process', () => {
  it("the in-process broker's byte and event clients are { system: 'proxystream.in-process' }", async () => {
    await using broker = new InProcessBroker();
    const made = [
      broker.publisher(),
      broker.eventPublisher(),
      await broker.subscriber('t'),
      await broker.eventSubscriber('t'),
    ];
    for (const client of made) {
      expect(client.messaging).toEqual({ system: 'proxystream.in-process' });
      expect(Object.isFrozen(client.messaging)).toBe(true);
    }
    const subscriber = await broker.subscriber('u');
    expect('lag' in subscriber).toBe(false);
    // The subscriber still delivers.
    await broker.publisher().send('u', new Uint8Array([7]));
    expect((await subscriber[Symbol.asyncIterator]().next()).value).toEqual(new Uint8Array([7]));
  });

  it("worker-thread clients are { system: 'proxystream.threads' }, with the group of a member", async () => {
    await using broker = await ThreadsBroker.create();
    await using publisher = await ThreadsPublisher.create({ connection: broker });
    await using alone = await ThreadsSubscriber.create('t', { connection: broker });
    await using member = await ThreadsSubscriber.create('t', {
      connection: broker,
      group: 'workers',
    });
    expect(publisher.messaging).toEqual({ system: 'proxystream.threads' });
    expect(alone.messaging).toEqual({ system: 'proxystream.threads' });
    expect(member.messaging).toEqual({ system: 'proxystream.threads', group: 'workers' });
    expect(Object.isFrozen(member.messaging)).toBe(true);
    expect('lag' in member).toBe(false);
  });
});
