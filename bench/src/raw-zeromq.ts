import { Publisher, Pull, Push, Subscriber } from 'zeromq';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

const LOOPBACK = 'tcp://127.0.0.1:*';

/**
 * `send` made one at a time, in call order: a zeromq socket allows one send in flight, so the
 * bench's 16 concurrent sends queue here as the shim's own sender queues them.
 */
function oneAtATime(send: (message: Uint8Array) => Promise<void>) {
  let last: Promise<void> = Promise.resolve();
  return {
    publish(message: Uint8Array): Promise<void> {
      last = last.then(() => send(message));
      return last;
    },
    settled: (): Promise<void> => last,
  };
}

/**
 * The high-water mark of the raw PUB/SUB contender, messages per peer: the shim's descriptor
 * uses the same, and shim-adapters.ts lets the shim's subscriber read as far ahead.
 */
export const ZMQ_HIGH_WATER_MARK = 10_000;

/** Raw zeromq PUB → SUB on loopback tcp, one topic part and the message (no sequence numbers). */
export function rawZmqPubSub(): Contender {
  return {
    name: 'zeromq PUB/SUB',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const topic = Buffer.from(`${freshTopic('zmq')}\0`);
      // The high-water marks of the shim's descriptor, so that both drop (or not) alike.
      const publisher = new Publisher({ linger: 0, sendHighWaterMark: ZMQ_HIGH_WATER_MARK });
      await publisher.bind(LOOPBACK);
      const subscriber = new Subscriber({ linger: 0, receiveHighWaterMark: ZMQ_HIGH_WATER_MARK });
      subscriber.subscribe(topic);
      subscriber.connect(publisher.lastEndpoint!);
      // The slow joiner: an empty probe until the subscription reached the publisher.
      let joined = false;
      const loop = (async () => {
        for await (const [, message] of subscriber) {
          if (message === undefined) continue;
          if (message.byteLength === 0) joined = true;
          else counter.message(message);
        }
      })().catch(() => undefined);
      while (!joined) {
        await publisher.send([topic, Buffer.alloc(0)]);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const { publish, settled } = oneAtATime((message) => publisher.send([topic, message]));
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) publish(rest);
          await settled();
        },
        get received() {
          return counter.received;
        },
        async close() {
          publisher.close();
          subscriber.close();
          await loop;
        },
      };
    },
  };
}

/** Raw zeromq PUSH → PULL on loopback tcp, one send at a time (zeromq allows no more). */
export function rawZmqPushPull(): Contender {
  return {
    name: 'zeromq PUSH/PULL',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const pull = new Pull({ linger: 0 });
      await pull.bind(LOOPBACK);
      const push = new Push({ linger: 0 });
      push.connect(pull.lastEndpoint!);
      const loop = (async () => {
        for await (const [message] of pull) if (message !== undefined) counter.message(message);
      })().catch(() => undefined);
      const { publish, settled } = oneAtATime((message) => push.send(message));
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) publish(rest);
          await settled();
        },
        get received() {
          return counter.received;
        },
        async close() {
          push.close();
          pull.close();
          await loop;
        },
      };
    },
  };
}
