import { afterEach, describe, expect, it } from 'vitest';
import { ZmqPublisher, ZmqPullSubscriber, ZmqPushPublisher, ZmqSubscriber } from '../src/index.js';
import { zmqPushPullDescriptor } from '../src/testing.js';

const LOOPBACK = 'tcp://127.0.0.1:*';
const open: Array<{ close(): Promise<void> }> = [];
const track = <T extends { close(): Promise<void> }>(item: T): T => {
  open.push(item);
  return item;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

describe('zeromq messaging attributes', () => {
  it("are { system: 'zeromq' } on every publisher and subscriber, and no lag", async () => {
    const publisher = track(await ZmqPublisher.create({ bind: LOOPBACK }));
    const subscriber = track(await ZmqSubscriber.create('a', { connect: publisher.endpoints }));
    const pull = track(await ZmqPullSubscriber.create('b', { bind: LOOPBACK }));
    const push = track(await ZmqPushPublisher.create({ connect: pull.endpoints }));
    const descriptorPublisher = track(await zmqPushPullDescriptor.publisher(process.env));
    for (const made of [publisher, subscriber, pull, push, descriptorPublisher]) {
      expect(made.messaging).toEqual({ system: 'zeromq' });
      expect(Object.isFrozen(made.messaging)).toBe(true);
    }
    expect('lag' in subscriber).toBe(false);
    expect('lag' in pull).toBe(false);
  });
});
