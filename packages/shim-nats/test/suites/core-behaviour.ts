import { connect } from '@nats-io/transport-node';
import {
  assertAllReceived,
  collect,
  drain,
  expectCopiedUnlessOwned,
  label,
  labels,
  nextWithin,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import { MessagesLostError, MessageTooLargeError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { NatsPublisher, NatsSubscriber } from '../../src/index.js';
import { NATS_URL } from '../support.js';

/** Core NATS cases beyond the contract: queue groups, size limit, slow consumers, caller connections. */
export function coreBehaviour(): void {
  describe('core NATS', () => {
    it('a queue group shares messages while a subscriber outside it gets them all', async () => {
      const topic = uniqueTopic('core');
      const members = [
        await NatsSubscriber.create(topic, { connection: { servers: NATS_URL }, group: 'workers' }),
        await NatsSubscriber.create(topic, { connection: { servers: NATS_URL }, group: 'workers' }),
      ];
      const watcher = await NatsSubscriber.create(topic, { connection: { servers: NATS_URL } });
      const publisher = await NatsPublisher.create({ connection: { servers: NATS_URL } });
      try {
        const sent = labels('job', 300);
        for (const item of sent) await publisher.send(topic, label(item));
        await publisher.close();
        const perMember = await Promise.all(
          members.map(async (member) => (await drain(member, 500)).map(readLabel)),
        );
        assertAllReceived(perMember.flat(), sent);
        expect(perMember[0]!.length).toBeGreaterThan(0);
        expect(perMember[1]!.length).toBeGreaterThan(0);
        assertAllReceived((await collect(watcher, sent.length)).map(readLabel), sent);
      } finally {
        await Promise.all([...members, watcher].map((s) => s.close()));
      }
    });

    it('copies each message unless the caller hands it over with { owned: true }', async () => {
      const topic = uniqueTopic('core');
      const subscriber = await NatsSubscriber.create(topic, { connection: { servers: NATS_URL } });
      const publisher = await NatsPublisher.create({ connection: { servers: NATS_URL } });
      try {
        await expectCopiedUnlessOwned(publisher, subscriber, topic);
      } finally {
        await publisher.close();
        await subscriber.close();
      }
    });

    it('rejects a message above the server max_payload before sending it', async () => {
      const nc = await connect({ servers: NATS_URL });
      const topic = uniqueTopic('core');
      const subscriber = await NatsSubscriber.create(topic, { connection: nc });
      const publisher = await NatsPublisher.create({ connection: nc });
      try {
        expect(publisher.maxMessageSize).toBe(nc.info!.max_payload);
        const before = nc.stats().outMsgs;
        const error = await publisher
          .send(topic, new Uint8Array(nc.info!.max_payload + 1))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MessageTooLargeError);
        expect((error as MessageTooLargeError).limit).toBe(nc.info!.max_payload);
        expect(nc.stats().outMsgs).toBe(before);
        await publisher.send(topic, label('fits'));
        expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['fits']);
      } finally {
        await publisher.close();
        await subscriber.close();
        // The shims closed only what they opened: the caller's connection still works.
        expect(nc.isClosed()).toBe(false);
        await nc.flush();
        await nc.close();
      }
    });

    it('a subscriber past its pending limit reports the loss, then goes on', async () => {
      const topic = uniqueTopic('core');
      const nc = await connect({ servers: NATS_URL });
      const subscriber = await NatsSubscriber.create(topic, {
        connection: nc,
        maxBufferedMessages: 10,
      });
      const publisher = await NatsPublisher.create({ connection: { servers: NATS_URL } });
      try {
        for (const item of labels('burst', 100)) await publisher.send(topic, label(item));
        await publisher.close();
        // The server answers this ping after the 100 messages: all reached the subscriber.
        await nc.flush();
        const first = await collect(subscriber, 10);
        expect(first.map(readLabel)).toEqual(labels('burst', 10));
        const error = await nextWithin(subscriber, 5_000).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MessagesLostError);
        expect((error as Error).message).toMatch(/^90 message\(s\) dropped/);
        const again = await NatsPublisher.create({ connection: { servers: NATS_URL } });
        await again.send(topic, label('after'));
        await again.close();
        expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['after']);
      } finally {
        await subscriber.close();
        await nc.close();
      }
    });
  });
}
