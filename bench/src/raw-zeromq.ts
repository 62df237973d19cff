import { Publisher, Pull, Push, Subscriber } from 'zeromq';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

const LOOPBACK = 'tcp://127.0.0.1:*';

/** Raw zeromq PUB → SUB on loopback tcp, one topic part and the message (no sequence numbers). */
export function rawZmqPubSub(): Contender {
  return {
    name: 'zeromq PUB/SUB',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const topic = Buffer.from(`${freshTopic('zmq')}\0`);
      const publisher = new Publisher({ linger: 0 });
      await publisher.bind(LOOPBACK);
      const subscriber = new Subscriber({ linger: 0 });
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
      const publish = (message: Uint8Array) => publisher.send([topic, message]);
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
      let last: Promise<void> = Promise.resolve();
      const publish = (message: Uint8Array): Promise<void> => {
        last = last.then(() => push.send(message));
        return last;
      };
      return {
        send(data) {
          const message = counter.add(data);
          return message === undefined ? undefined : publish(message);
        },
        async finish() {
          const rest = counter.take();
          if (rest !== undefined) publish(rest);
          await last;
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
