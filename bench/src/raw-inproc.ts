import { MessageChannel } from 'node:worker_threads';
import { MessageQueue } from '@proxystream/protocols';
import { type Contender, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

/** The floor: a bare bounded async queue (the one every proxystream subscriber is built on). */
export const rawQueue: Contender = {
  name: 'bare async queue',
  kind: 'raw',
  async open(options: PipeOptions): Promise<Pipe> {
    const counter = new RawBatcher(options.size, options.batch, options.onItem);
    const queue = new MessageQueue<Uint8Array>({ capacity: 1024 });
    const loop = (async () => {
      for await (const message of queue) counter.message(message);
    })();
    // Same rule as the in-process broker: push while there is room, wait only when full.
    const push = (message: Uint8Array): Promise<void> | undefined => {
      if (!queue.isFull) {
        queue.push(message);
        return undefined;
      }
      return queue.pushWait(message).then(() => undefined);
    };
    return {
      send(data) {
        const message = counter.add(data);
        return message === undefined ? undefined : push(message);
      },
      async finish() {
        const rest = counter.take();
        if (rest !== undefined) await push(rest);
      },
      get received() {
        return counter.received;
      },
      async close() {
        await queue.close();
        await loop;
      },
    };
  },
};

/** Node's MessageChannel within one thread (structured clone copies each message). */
export const rawMessageChannel: Contender = {
  name: 'MessageChannel',
  kind: 'raw',
  async open(options: PipeOptions): Promise<Pipe> {
    const counter = new RawBatcher(options.size, options.batch, options.onItem);
    const { port1, port2 } = new MessageChannel();
    port2.on('message', (message: Uint8Array) => counter.message(message));
    return {
      send(data) {
        const message = counter.add(data);
        if (message !== undefined) port1.postMessage(message);
        return undefined;
      },
      async finish() {
        const rest = counter.take();
        if (rest !== undefined) port1.postMessage(rest);
      },
      get received() {
        return counter.received;
      },
      async close() {
        port1.close();
        port2.close();
      },
    };
  },
};
