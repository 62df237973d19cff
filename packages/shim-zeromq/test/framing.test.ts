import { describe, expect, it } from 'vitest';
import { Push } from 'zeromq';
import {
  decodeFrame,
  FRAMING_VERSION,
  FRAMING_VERSION_PARTS,
  GATHER_OWNED_BELOW,
  HEADER_LENGTH,
  messageParts,
  pendingMessage,
  topicFrame,
} from '../src/framing.js';
import { ZmqPullSubscriber } from '../src/index.js';

const LOOPBACK = 'tcp://127.0.0.1:*';
const topic = topicFrame('frames');
/** The three parts an earlier release sent (framing version 1): topic, header, message. */
function partsV1(message: Uint8Array, publisher: number, sequence: number): Buffer[] {
  const head = Buffer.alloc(HEADER_LENGTH);
  head[0] = FRAMING_VERSION_PARTS;
  head.writeUIntBE(publisher, 1, 6);
  head.writeUInt32BE(sequence, 7);
  return [topic, head, Buffer.from(message)];
}
const bytes = (size: number, seed = 7) =>
  Uint8Array.from({ length: size }, (_, i) => (i * seed) & 0xff);

describe('ZeroMQ framing', () => {
  it('sends topic, header and a copied message in one part that decodes back', () => {
    const message = bytes(1000);
    const pending = pendingMessage(topic, message, false);
    message.fill(0); // the caller reuses its buffer once send returned
    const parts = messageParts(pending, 0x1234_5678_9abc, 41);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.byteLength).toBe(topic.length + HEADER_LENGTH + 1000);
    expect(parts[0]![topic.length]).toBe(FRAMING_VERSION);
    const frame = decodeFrame(parts);
    if (typeof frame === 'string') throw new Error(frame);
    expect(frame.topic.equals(topic)).toBe(true);
    expect(frame.publisher).toBe(0x1234_5678_9abc);
    expect(frame.sequence).toBe(41);
    expect(new Uint8Array(frame.payload)).toEqual(bytes(1000));
  });

  it('sends a large handed-over message as its own part without copying it', () => {
    const backing = new Uint8Array(GATHER_OWNED_BELOW + 64);
    const message = backing.subarray(32, 32 + GATHER_OWNED_BELOW);
    message.set(bytes(GATHER_OWNED_BELOW));
    const parts = messageParts(pendingMessage(topic, message, true), 1, 2);
    expect(parts).toHaveLength(2);
    // The same memory: a write into the caller's buffer shows in the part.
    expect(parts[1]!.buffer).toBe(backing.buffer);
    expect(parts[1]!.byteOffset).toBe(32);
    message[0] = 0xee;
    expect(parts[1]![0]).toBe(0xee);
    const frame = decodeFrame(parts);
    if (typeof frame === 'string') throw new Error(frame);
    expect(frame.sequence).toBe(2);
    expect(frame.payload.byteLength).toBe(GATHER_OWNED_BELOW);
  });

  it('gathers a small handed-over message into the header part when it is written', () => {
    const message = bytes(100);
    const pending = pendingMessage(topic, message, true);
    message[0] = 0xab; // handed over: what is written is the buffer as it is then
    const parts = messageParts(pending, 1, 0);
    expect(parts).toHaveLength(1);
    const frame = decodeFrame(parts);
    if (typeof frame === 'string') throw new Error(frame);
    expect(frame.payload[0]).toBe(0xab);
    expect(frame.payload.byteLength).toBe(100);
  });

  it('reads the three parts of framing version 1', () => {
    const frame = decodeFrame(partsV1(bytes(10), 9, 3));
    if (typeof frame === 'string') throw new Error(frame);
    expect([frame.publisher, frame.sequence]).toEqual([9, 3]);
    expect(new Uint8Array(frame.payload)).toEqual(bytes(10));
  });

  it('refuses parts that are not the framing, saying why', () => {
    const good = messageParts(pendingMessage(topic, bytes(10), false), 1, 0)[0]!;
    const noNul = Buffer.from('frames-without-nul-and-more-bytes-than-a-header');
    const badVersion = Buffer.from(good);
    badVersion[topic.length] = 9;
    const head = messageParts(pendingMessage(topic, bytes(GATHER_OWNED_BELOW), true), 1, 0)[0]!;
    expect(decodeFrame([noNul])).toMatch(/unknown header/);
    expect(decodeFrame([badVersion])).toMatch(/unknown header/);
    expect(decodeFrame([good.subarray(0, topic.length + 4)])).toMatch(/unknown header/);
    expect(decodeFrame([good, Buffer.alloc(1)])).toMatch(/first part longer/);
    expect(decodeFrame([head, Buffer.alloc(1), Buffer.alloc(1)])).toMatch(/unknown header/);
    expect(decodeFrame([])).toMatch(/0 message part/);
    expect(decodeFrame([good, good, good, good])).toMatch(/4 message part/);
  });

  it('a subscriber delivers messages of an older publisher (version 1) and of this one alike', async () => {
    const puller = await ZmqPullSubscriber.create('frames', { bind: LOOPBACK });
    const raw = new Push({ linger: 0 });
    try {
      raw.connect(puller.endpoints[0]!);
      await raw.send(partsV1(bytes(5, 3), 1, 0));
      await raw.send(messageParts(pendingMessage(topic, bytes(5, 5), false), 2, 0));
      const first = await puller.next();
      const second = await puller.next();
      expect(new Uint8Array(first.value as Uint8Array)).toEqual(bytes(5, 3));
      expect(new Uint8Array(second.value as Uint8Array)).toEqual(bytes(5, 5));
    } finally {
      raw.close();
      await puller.close();
    }
  });
});
