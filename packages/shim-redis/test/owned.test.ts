import { uniqueTopic } from '@proxystream/contract-tests';
import type { Publisher } from '@proxystream/protocols';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPubSubPublisher, RedisQueuePublisher, RedisStreamsPublisher } from '../src/index.js';
import { adminClient, deleteKeys } from './env.js';

let client: Redis;
/** The Buffer arguments of every command the client was given since the last reset. */
let given: Buffer[] = [];
beforeAll(async () => {
  client = await adminClient();
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, stream) => {
    for (const arg of command.args) if (Buffer.isBuffer(arg)) given.push(arg);
    return send(command, stream);
  };
});
afterAll(async () => {
  client.disconnect();
  await deleteKeys('owned-test-*');
});

const publishers: [string, () => Promise<Publisher>][] = [
  ['pub/sub', () => RedisPubSubPublisher.create({ connection: client })],
  ['list', () => RedisQueuePublisher.create({ connection: client })],
  ['streams', () => RedisStreamsPublisher.create({ connection: client })],
];

/** Whether `arg` is a view of `message`'s memory rather than a copy. */
const sameMemory = (arg: Buffer, message: Uint8Array): boolean =>
  arg.buffer === message.buffer &&
  arg.byteOffset === message.byteOffset &&
  arg.byteLength === message.byteLength;

describe.each(publishers)('redis %s publisher', (_, create) => {
  it('copies each message unless the caller hands it over with { owned: true }', async () => {
    const publisher = await create();
    try {
      const topic = uniqueTopic('owned-test');
      // Views into one larger buffer, as a StreamProducer's envelopes from Node's pool are.
      const memory = new Uint8Array(64).fill(7);
      const copied = memory.subarray(8, 24);
      const handedOver = memory.subarray(32, 48);
      given = [];
      await publisher.send(topic, copied);
      await publisher.send(topic, handedOver, { owned: true });
      const messages = given.filter((arg) => arg.byteLength === 16);
      expect(messages).toHaveLength(2);
      expect(sameMemory(messages[0]!, copied)).toBe(false);
      expect(Array.from(messages[0]!)).toEqual(Array.from(copied));
      expect(sameMemory(messages[1]!, handedOver)).toBe(true);
    } finally {
      await publisher.close();
    }
  });
});
