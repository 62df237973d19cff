import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

/** Publishes are fire-and-forget in core NATS; a flush every this many messages bounds the client's buffer. */
const FLUSH_EVERY = 128;

/**
 * Connection options for the servers of `address` (comma-separated, as in `NATS_URL` or
 * `NATS_CLUSTER_URLS`): every server, tried in the order given, as the shims' cluster descriptors
 * do, so that raw and shim clients alike connect to the first one.
 */
function serversOf(address: string): NodeConnectionOptions {
  const servers = address
    .split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
  return { servers, noRandomize: true };
}

/** Core NATS publish / subscribe (callback subscription) on the servers of `address`. */
export function rawNatsCore(address: string): Contender {
  return {
    name: 'core NATS',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const subject = freshTopic('nats');
      const publisher = await connect(serversOf(address));
      const subscriber = await connect(serversOf(address));
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

/**
 * JetStream on the servers of `address`: acknowledged publishes to a stream of its own (file
 * storage, `replicas` copies), a durable pull consumer with explicit acks.
 */
export function rawJetStream(address: string, replicas = 1): Contender {
  return {
    name: replicas === 1 ? 'JetStream' : `JetStream (stream of ${replicas} replicas)`,
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const subject = freshTopic('js');
      const stream = subject.replaceAll('.', '_');
      const publisher = await connect(serversOf(address));
      const subscriber = await connect(serversOf(address));
      const manager = await jetstreamManager(publisher);
      await manager.streams.add({ name: stream, subjects: [subject], num_replicas: replicas });
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
