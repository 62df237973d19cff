import { Redis } from 'ioredis';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';

function pipeOf(
  counter: RawBatcher,
  publish: (message: Uint8Array) => Promise<unknown>,
  close: () => Promise<void>,
): Pipe {
  return {
    send(data) {
      const message = counter.add(data);
      return message === undefined ? undefined : publish(message).then(() => undefined);
    },
    async finish() {
      const rest = counter.take();
      if (rest !== undefined) await publish(rest);
    },
    get received() {
      return counter.received;
    },
    close,
  };
}

const toBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** ioredis PUBLISH / SUBSCRIBE. */
export function rawRedisPubSub(url: string): Contender {
  return {
    name: 'ioredis pub/sub',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const channel = freshTopic('redis-pubsub');
      const publisher = new Redis(url);
      const subscriber = new Redis(url);
      subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) =>
        counter.message(message),
      );
      await subscriber.subscribe(channel);
      return pipeOf(
        counter,
        (message) => publisher.publish(channel, toBuffer(message)),
        async () => {
          subscriber.disconnect();
          publisher.disconnect();
        },
      );
    },
  };
}

/** ioredis RPUSH and a popping loop (LPOP with a count, BLPOP when empty). */
export function rawRedisList(url: string): Contender {
  return {
    name: 'ioredis list (RPUSH/LPOP)',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const key = freshTopic('redis-list');
      const publisher = new Redis(url);
      const consumer = new Redis(url);
      let closed = false;
      const loop = (async () => {
        while (!closed) {
          const items = (await consumer.lpopBuffer(key, 256)) as Buffer[] | null;
          if (items !== null && items.length > 0) {
            for (const item of items) counter.message(item);
            continue;
          }
          const popped = await consumer.blpopBuffer(key, 0.05);
          if (popped !== null) counter.message(popped[1]);
        }
      })().catch(() => undefined);
      return pipeOf(
        counter,
        (message) => publisher.rpush(key, toBuffer(message)),
        async () => {
          closed = true;
          await loop;
          await publisher.del(key);
          consumer.disconnect();
          publisher.disconnect();
        },
      );
    },
  };
}

/** ioredis XADD and an XREAD loop (COUNT 256, BLOCK). */
export function rawRedisStreams(url: string): Contender {
  return {
    name: 'ioredis streams (XADD/XREAD)',
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const key = freshTopic('redis-stream');
      const publisher = new Redis(url);
      const consumer = new Redis(url);
      let closed = false;
      let last = '0-0';
      const loop = (async () => {
        while (!closed) {
          const reply = (await consumer.xreadBuffer(
            'COUNT',
            256,
            'BLOCK',
            50,
            'STREAMS',
            key,
            last,
          )) as [Buffer, [Buffer, Buffer[]][]][] | null;
          if (reply === null) continue;
          for (const [, entries] of reply) {
            for (const [id, fields] of entries) {
              last = id.toString();
              counter.message(fields[1]!);
            }
          }
        }
      })().catch(() => undefined);
      return pipeOf(
        counter,
        (message) => publisher.xadd(key, '*', 'd', toBuffer(message)),
        async () => {
          closed = true;
          await loop;
          await publisher.del(key);
          consumer.disconnect();
          publisher.disconnect();
        },
      );
    },
  };
}
