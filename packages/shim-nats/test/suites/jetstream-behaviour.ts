import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  collect,
  drain,
  expectCopiedUnlessOwned,
  label,
  labels,
  nextWithin,
  readLabel,
  uniqueTopic,
} from '@proxystream/contract-tests';
import { BrokerError, MessageTooLargeError } from '@proxystream/protocols';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, JetStreamPublisher, JetStreamSubscriber } from '../../src/index.js';
import { ensureTestStream, NATS_URL, TEST_STREAM } from '../support.js';

const options = { connection: { servers: NATS_URL }, ...TEST_STREAM };

/** JetStream cases beyond the contract: deduplication, redelivery, acknowledgement, streams. */
export function jetStreamBehaviour(): void {
  describe('JetStream', () => {
    beforeAll(ensureTestStream);

    it('stores a retried publish with the same message id once', async () => {
      const topic = uniqueTopic('js');
      const publisher = await JetStreamPublisher.create(options);
      const subscriber = await JetStreamSubscriber.create(topic, options);
      try {
        await publisher.send(topic, label('once'), { msgID: `${topic}-1` });
        await publisher.send(topic, label('once'), { msgID: `${topic}-1` });
        await publisher.send(topic, label('next'), { msgID: `${topic}-2` });
        expect((await drain(subscriber, 1_000)).map(readLabel)).toEqual(['once', 'next']);
      } finally {
        await Promise.all([publisher.close(), subscriber.close()]);
      }
    });

    it('copies each message unless the caller hands it over with { owned: true }', async () => {
      const topic = uniqueTopic('js');
      const publisher = await JetStreamPublisher.create(options);
      const subscriber = await JetStreamSubscriber.create(topic, options);
      try {
        await expectCopiedUnlessOwned(publisher, subscriber, topic);
      } finally {
        await Promise.all([publisher.close(), subscriber.close()]);
      }
    });

    it('delivers an unacknowledged message again after its subscriber dies, but not an acknowledged one', async () => {
      const topic = uniqueTopic('js');
      const group = { group: 'workers', ackWaitMs: 1_000 };
      const publisher = await JetStreamPublisher.create(options);
      const doomed = await connect({ servers: NATS_URL });
      const first = await JetStreamSubscriber.create(topic, {
        ...options,
        ...group,
        connection: doomed,
      });
      for (const item of labels('job', 3)) await publisher.send(topic, label(item));
      // job-0 is acknowledged by asking for job-1; job-1 is yielded and never acknowledged.
      expect((await collect(first, 2)).map(readLabel)).toEqual(['job-0', 'job-1']);
      await doomed.close(); // the process "dies": no close(), no negative acknowledgement
      const second = await JetStreamSubscriber.create(topic, { ...options, ...group });
      try {
        const started = Date.now();
        const got = (await collect(second, 2)).map(readLabel).sort();
        expect(got).toEqual(['job-1', 'job-2']);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await drain(second, 1_500)).toEqual([]);
      } finally {
        await Promise.all([publisher.close(), first.close(), second.close()]);
      }
    });

    it('keeps a held message in progress past ackWaitMs: no redelivery while it is processed', async () => {
      const topic = uniqueTopic('js');
      const group = { group: 'workers', ackWaitMs: 1_000 };
      const publisher = await JetStreamPublisher.create(options);
      const slow = await JetStreamSubscriber.create(topic, { ...options, ...group });
      let other: JetStreamSubscriber | undefined;
      try {
        expect(slow.redeliveryMs).toBe(1_000);
        await publisher.send(topic, label('slow'));
        expect((await collect(slow, 1)).map(readLabel)).toEqual(['slow']);
        // Held, not acknowledged, for 3.5 ackWaits: no member gets it again, this one included.
        other = await JetStreamSubscriber.create(topic, { ...options, ...group });
        expect(await drain(other, 3_500)).toEqual([]);
        expect(await drain(slow, 500)).toEqual([]);
      } finally {
        await Promise.all([publisher.close(), slow.close(), other?.close()]);
      }
    });

    it('declares no redelivery time without a group (the ordered consumer recovers by itself)', async () => {
      const subscriber = await JetStreamSubscriber.create(uniqueTopic('js'), options);
      try {
        expect(subscriber.redeliveryMs).toBeUndefined();
      } finally {
        await subscriber.close();
      }
    });

    it('ack() acknowledges the message yielded last', async () => {
      const topic = uniqueTopic('js');
      const group = { group: 'workers', ackWaitMs: 1_000 };
      const publisher = await JetStreamPublisher.create(options);
      const doomed = await connect({ servers: NATS_URL });
      const first = await JetStreamSubscriber.create(topic, {
        ...options,
        ...group,
        connection: doomed,
      });
      await publisher.send(topic, label('only'));
      expect((await collect(first, 1)).map(readLabel)).toEqual(['only']);
      await first.ack();
      await doomed.close();
      const second = await JetStreamSubscriber.create(topic, { ...options, ...group });
      try {
        expect(await drain(second, 2_500)).toEqual([]);
      } finally {
        await Promise.all([publisher.close(), first.close(), second.close()]);
      }
    });

    it('close() hands unacknowledged messages back to the group at once', async () => {
      const topic = uniqueTopic('js');
      const group = { group: 'workers' }; // default ackWait of 30 s: only the nak can be this fast
      const publisher = await JetStreamPublisher.create(options);
      const first = await JetStreamSubscriber.create(topic, { ...options, ...group });
      for (const item of labels('job', 5)) await publisher.send(topic, label(item));
      expect((await collect(first, 1)).map(readLabel)).toEqual(['job-0']);
      await first.close();
      const second = await JetStreamSubscriber.create(topic, { ...options, ...group });
      try {
        expect((await collect(second, 5, { inactivityMs: 3_000 })).map(readLabel).sort()).toEqual(
          labels('job', 5),
        );
      } finally {
        await Promise.all([publisher.close(), second.close()]);
      }
    });

    it('a new group starts from the oldest message of the topic', async () => {
      const topic = uniqueTopic('js');
      const publisher = await JetStreamPublisher.create(options);
      for (const item of labels('old', 5)) await publisher.send(topic, label(item));
      const late = await JetStreamSubscriber.create(topic, { ...options, group: 'late' });
      try {
        expect((await collect(late, 5)).map(readLabel)).toEqual(labels('old', 5));
      } finally {
        await Promise.all([publisher.close(), late.close()]);
      }
    });

    it('rejects a message above max_payload less the header reserve before sending it', async () => {
      const publisher = await JetStreamPublisher.create(options);
      try {
        const error = await publisher
          .send(uniqueTopic('js'), new Uint8Array(publisher.maxMessageSize + 1))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MessageTooLargeError);
      } finally {
        await publisher.close();
      }
    });

    it("refuses a message above the stream's own max_msg_size with MessageTooLargeError, storing nothing", async () => {
      const stream = `PSSMALL_${Date.now()}`;
      const prefix = `pssmall-${Date.now()}`;
      const nc = await connect({ servers: NATS_URL });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name: stream,
        subjects: [`${prefix}.>`],
        max_msg_size: 1024,
        storage: 'memory',
      });
      const publisher = await JetStreamPublisher.create({
        connection: nc,
        stream,
        subjectPrefix: prefix,
      });
      try {
        const error = await publisher
          .send('big', new Uint8Array(2_000))
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(MessageTooLargeError);
        expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', size: 2_000, limit: 1024 });
        // The limit counts the headers too (the deduplication id): well below it is stored.
        await publisher.send('big', new Uint8Array(900));
        expect((await jsm.streams.info(stream)).state.messages).toBe(1);
      } finally {
        await publisher.close();
        await jsm.streams.delete(stream).catch(() => undefined);
        await nc.close();
      }
    });

    it('fails with BrokerError when no stream captures the topic, and creates it when asked', async () => {
      const stream = `PSMISSING_${Date.now()}`;
      const prefix = `psmissing-${Date.now()}`;
      const topic = uniqueTopic('js');
      const missing = await JetStreamPublisher.create({
        connection: { servers: NATS_URL },
        stream,
        subjectPrefix: prefix,
        retryForMs: 500,
      });
      await expect(missing.send(topic, label('x'))).rejects.toBeInstanceOf(BrokerError);
      await expect(
        JetStreamSubscriber.create(topic, {
          connection: { servers: NATS_URL },
          stream,
          subjectPrefix: prefix,
        }),
      ).rejects.toBeInstanceOf(BrokerError);
      await missing.close();
      const creating = await JetStreamPublisher.create({
        connection: { servers: NATS_URL },
        stream,
        subjectPrefix: prefix,
        createStream: { storage: 'memory', retention: 'limits', maxAgeMs: 60_000 },
      });
      const nc = await connect({ servers: NATS_URL });
      try {
        await creating.send(topic, label('stored'));
        const subscriber = await JetStreamSubscriber.create(topic, {
          connection: nc,
          stream,
          subjectPrefix: prefix,
        });
        expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['stored']);
        await subscriber.close();
        const info = await (await jetstreamManager(nc)).streams.info(stream);
        expect(info.config.storage).toBe('memory');
        expect(info.config.subjects).toEqual([`${prefix}.>`]);
      } finally {
        await creating.close();
        await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
        await nc.close();
      }
    });

    it('ensureStream creates with retention and storage, then leaves the stream as it is', async () => {
      const name = `PSENSURE_${Date.now()}`;
      const nc = await connect({ servers: NATS_URL });
      try {
        const made = await ensureStream({
          connection: nc,
          name,
          subjectPrefix: name.toLowerCase(),
          retention: 'workqueue',
          storage: 'memory',
          maxBytes: 1 << 20,
        });
        expect(made.created).toBe(true);
        const again = await ensureStream({
          connection: nc,
          name,
          subjectPrefix: name.toLowerCase(),
        });
        expect(again.created).toBe(false);
        const info = await (await jetstreamManager(nc)).streams.info(name);
        expect([info.config.retention, info.config.storage, info.config.max_bytes]).toEqual([
          'workqueue',
          'memory',
          1 << 20,
        ]);
        await expect(
          ensureStream({ connection: nc, name, subjectPrefix: 'elsewhere' }),
        ).rejects.toBeInstanceOf(BrokerError);
        expect(nc.isClosed()).toBe(false);
      } finally {
        await (await jetstreamManager(nc)).streams.delete(name).catch(() => undefined);
        await nc.close();
      }
    });

    it('a subscriber without a group reads the whole topic and acknowledges nothing', async () => {
      const topic = uniqueTopic('js');
      const publisher = await JetStreamPublisher.create(options);
      for (const item of labels('all', 3)) await publisher.send(topic, label(item));
      const a = await JetStreamSubscriber.create(topic, options);
      const b = await JetStreamSubscriber.create(topic, options);
      try {
        expect((await collect(a, 3)).map(readLabel)).toEqual(labels('all', 3));
        await a.ack();
        expect((await collect(b, 3)).map(readLabel)).toEqual(labels('all', 3));
        expect((await nextWithin(a, 300)).kind).toBe('timeout');
      } finally {
        await Promise.all([publisher.close(), a.close(), b.close()]);
      }
    });
  });
}
