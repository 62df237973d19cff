import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

/** Publishes are fire-and-forget in core NATS; a flush every this many messages bounds the client's buffer. */
const FLUSH_EVERY = 128;

/** Core NATS publish / subscribe (callback subscription). */
export function rawNatsCore(url: string): Contender {
  return {
    name: 'core NATS',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const subject = freshTopic('nats');
      const publisher = await connect({ servers: url });
      const subscriber = await connect({ servers: url });
      subscriber.subscribe(subject, {
        callback: (error, message) => {
          if (error === null) counter.message(message.data);
        },
      });
      await subscriber.flush();
      let sent = 0;
      const publish = (message: Uint8Array): Promise<void> | undefined => {
        publisher.publish(subject, message);
        return ++sent % FLUSH_EVERY === 0 ? publisher.flush() : undefined;
      };
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) publish(rest);
          await publisher.flush();
        },
        get received() {
          return counter.received;
        },
        async close() {
          await publisher.close();
          await subscriber.close();
        },
      };
    },
  };
}

/** JetStream: acknowledged publishes, a durable pull consumer with explicit acks. */
export function rawJetStream(url: string): Contender {
  return {
    name: 'JetStream',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const subject = freshTopic('js');
      const stream = subject.replaceAll('.', '_');
      const publisher = await connect({ servers: url });
      const subscriber = await connect({ servers: url });
      const manager = await jetstreamManager(publisher);
      await manager.streams.add({ name: stream, subjects: [subject] });
      await manager.consumers.add(stream, {
        durable_name: 'bench',
        ack_policy: AckPolicy.Explicit,
      });
      const js = jetstream(publisher);
      const consumer = await jetstream(subscriber).consumers.get(stream, 'bench');
      const messages = await consumer.consume();
      const loop = (async () => {
        for await (const message of messages) {
          counter.message(message.data);
          message.ack();
        }
      })().catch(() => undefined);
      const publish = (message: Uint8Array) => js.publish(subject, message).then(() => undefined);
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) await publish(rest);
        },
        get received() {
          return counter.received;
        },
        async close() {
          await messages.close();
          await loop;
          await manager.streams.delete(stream);
          await publisher.close();
          await subscriber.close();
        },
      };
    },
  };
}
