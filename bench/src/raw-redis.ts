import { QUEUE_TAKE_SCRIPT } from '@proxystream/shim-redis/testing';
import { type Contender, freshTopic, type Pipe, type PipeOptions, RawBatcher } from './pipe.js';
import type { RawRedisDeployment } from './raw-redis-deployment.js';

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

/** ioredis PUBLISH / SUBSCRIBE on a server, SPUBLISH / SSUBSCRIBE on a cluster. */
export function rawRedisPubSub(deployment: RawRedisDeployment): Contender {
  return {
    name: `${deployment.client} ${deployment.pubSub}`,
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const channel = freshTopic('redis-pubsub');
      const publisher = deployment.connect();
      const subscriber = await deployment.subscribe(channel, (message) => counter.message(message));
      return pipeOf(
        counter,
        (message) => deployment.publish(publisher, channel, toBuffer(message)),
        async () => {
          subscriber.disconnect();
          publisher.disconnect();
        },
      );
    },
  };
}

/**
 * Messages moved per read by the list and Streams contenders, raw and shim alike
 * (the shims' `count` option is set to the same value by shim-adapters.ts).
 */
export const REDIS_READ_COUNT = 16;

/**
 * ioredis RPUSH, and a reader with the list shim's guarantee (at least once): messages are moved
 * atomically to a pending list (the list shim's own script, {@link QUEUE_TAKE_SCRIPT}, up to
 * {@link REDIS_READ_COUNT}; BLMOVE when the queue is empty) and removed from it (LPOP with a
 * count) once counted.
 */
export function rawRedisList(deployment: RawRedisDeployment): Contender {
  return {
    name: `${deployment.client} list (RPUSH, LMOVE to pending, LPOP ack)`,
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const key = freshTopic('redis-list');
      // In the key's hash slot, as the shim's pending lists: the move is atomic on a cluster too.
      const pending = `{${key}}:pending`;
      const publisher = deployment.connect();
      const consumer = deployment.connect();
      let closed = false;
      const loop = (async () => {
        while (!closed) {
          const items = (await consumer.callBuffer(
            'EVAL',
            QUEUE_TAKE_SCRIPT,
            2,
            key,
            pending,
            REDIS_READ_COUNT,
          )) as Buffer[];
          if (items.length > 0) {
            for (const item of items) counter.message(item);
            void consumer.lpop(pending, items.length);
            continue;
          }
          const moved = (await consumer.callBuffer(
            'BLMOVE',
            key,
            pending,
            'LEFT',
            'RIGHT',
            '0.05',
          )) as Buffer | null;
          if (moved !== null) {
            counter.message(moved);
            void consumer.lpop(pending, 1);
          }
        }
      })().catch(() => undefined);
      return pipeOf(
        counter,
        (message) => publisher.rpush(key, toBuffer(message)),
        async () => {
          closed = true;
          await loop;
          await publisher.del(key, pending);
          consumer.disconnect();
          publisher.disconnect();
        },
      );
    },
  };
}

/**
 * ioredis XADD, and a reader with the Streams shim's guarantee (at least once, consumer group):
 * XREADGROUP (COUNT {@link REDIS_READ_COUNT}, BLOCK) and XACK of what was counted.
 */
export function rawRedisStreams(deployment: RawRedisDeployment): Contender {
  return {
    name: `${deployment.client} streams (XADD, XREADGROUP, XACK)`,
    kind: 'raw',
    async open(options: PipeOptions): Promise<Pipe> {
      const counter = new RawBatcher(options.size, options.batch, options.onItem);
      const key = freshTopic('redis-stream');
      const publisher = deployment.connect();
      const consumer = deployment.connect();
      await consumer.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
      let closed = false;
      const loop = (async () => {
        while (!closed) {
          const reply = (await consumer.xreadgroupBuffer(
            'GROUP',
            'g',
            'c',
            'COUNT',
            REDIS_READ_COUNT,
            'BLOCK',
            50,
            'STREAMS',
            key,
            '>',
          )) as [Buffer, [Buffer, Buffer[]][]][] | null;
          if (reply === null) continue;
          for (const [, entries] of reply) {
            const ids: Buffer[] = [];
            for (const [id, fields] of entries) {
              ids.push(id);
              counter.message(fields[1]!);
            }
            if (ids.length > 0) void consumer.xack(key, 'g', ...ids);
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
