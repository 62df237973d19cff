import { DecodeError, type EventBatch, TimeoutError } from '@proxystream/protocols';
import { expect, it } from 'vitest';
import { label, readLabel, uniqueTopic } from './helpers.js';

/**
 * What {@link malformedMessagesCase} reads through: a stream consumer (`StreamConsumer` of
 * `@proxystream/stream` fits) with its default decode-error handling, so that each malformed
 * message rejects one `nextObject()` call and the next call goes on.
 */
export interface DecodingConsumer {
  /** The next object, `done` at the end of the stream; rejects with `DecodeError` on a malformed message. */
  nextObject(): Promise<IteratorResult<unknown, unknown>>;
  /** Ends the subscription. */
  close(): Promise<void>;
}

/** Options of {@link malformedMessagesCase}. */
export interface MalformedMessagesCaseOptions {
  /** Shim name, used in the test name. */
  name: string;
  /**
   * Subscribes to `topic` through the shim and wraps the subscriber in a stream consumer reading
   * only `topic`, default options otherwise. The subscription must be live when this resolves
   * (fan-out shims drop what is published before).
   */
  openConsumer(topic: string): Promise<DecodingConsumer>;
  /** Publishes `message` on `topic` with the broker's own client, bypassing the shim's publisher; in order. */
  publishRaw(topic: string, message: Uint8Array): Promise<void>;
  /** The event codec's encoder (`encodeBatch` of `@proxystream/stream`): the case builds valid envelopes with it. */
  encode(batch: EventBatch): Uint8Array;
  /**
   * An inline payload the consumer's serializer refuses with `DecodeError` (with the default
   * serializer: its marker followed by an unknown tag). Sent inside an otherwise valid envelope.
   */
  poisonPayload: Uint8Array;
  /** Longest wait for the next item before the case fails, in ms. Default 10 000. */
  inactivityMs?: number;
}

/** A small deterministic generator, so that a failure replays with the same bytes. */
function bytesFrom(seed: number, length: number): Uint8Array {
  let state = seed >>> 0 || 1;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle);
}

/**
 * The malformed messages the case publishes: random bytes of several sizes, text, and valid
 * envelopes damaged in the ways a broken or hostile producer would (truncated, unknown version,
 * trailing bytes, lengths past the end, broken metadata JSON, a payload the serializer refuses).
 * Every one of them must cost exactly one `DecodeError` and nothing else.
 */
function malformedMessages(options: MalformedMessagesCaseOptions, topic: string): Uint8Array[] {
  const sample = (producerId: string, metadata: Record<string, number> = { a: 1 }) =>
    Uint8Array.from(
      options.encode({
        topic,
        producerId,
        sequence: 0,
        events: [
          {
            type: 'new-object',
            metadata,
            evict: false,
            body: { kind: 'inline', data: label('damaged') },
          },
          { type: 'end-of-stream' },
        ],
      }),
    );
  const truncated = sample('truncated');
  const version = sample('version');
  version[2] = 99;
  const overlong = sample('overlong');
  // The topic length field (after magic, version, flags and the 8-byte sequence) points past the end.
  overlong[12] = 0xff;
  overlong[13] = 0xff;
  const json = sample('json');
  const metadataAt = indexOf(json, new TextEncoder().encode('{"a"'));
  json[metadataAt] = 0x5b; // '[': the metadata is no longer a JSON object
  json[metadataAt + 1] = 0x5b;
  const poison = Uint8Array.from(
    options.encode({
      topic,
      producerId: 'poison',
      sequence: 0,
      events: [
        {
          type: 'new-object',
          metadata: {},
          evict: false,
          body: { kind: 'inline', data: options.poisonPayload },
        },
        { type: 'end-of-stream' },
      ],
    }),
  );
  return [
    new Uint8Array(0),
    bytesFrom(1, 1),
    bytesFrom(2, 17),
    bytesFrom(3, 300),
    bytesFrom(4, 64 * 1024),
    concat(new Uint8Array([0x50, 0x58, 1, 0]), bytesFrom(5, 40)),
    new TextEncoder().encode('{"topic":"x","events":[]}'),
    new TextEncoder().encode('hello, consumer'),
    truncated.subarray(0, truncated.byteLength >> 1),
    version,
    concat(sample('trailing'), new Uint8Array([0, 1, 2])),
    overlong,
    json,
    poison,
  ];
}

/**
 * Registers one test: valid events and malformed messages, published alternately by the broker's
 * raw client on one topic, reach a stream consumer that rejects one `nextObject()` with a
 * `DecodeError` per malformed message and yields every valid event, in order, up to the end of
 * the stream. Call it at the top level of a shim's test file.
 *
 * The case lives here rather than in `@proxystream/stream` because every shim runs it against its
 * own broker; the consumer and the encoder are passed in, since this package depends on protocols only.
 */
export function malformedMessagesCase(options: MalformedMessagesCaseOptions): void {
  it(`${options.name}: malformed messages from the raw client cost one DecodeError each and the valid events around them arrive in order`, () =>
    checkMalformedMessages(options));
}

/** The body of {@link malformedMessagesCase}, for suites that register it under their own name. */
export async function checkMalformedMessages(options: MalformedMessagesCaseOptions): Promise<void> {
  const topic = uniqueTopic('bad-input');
  const inactivityMs = options.inactivityMs ?? 10_000;
  const garbage = malformedMessages(options, topic);
  const valid = garbage.map((_, index) => `valid-${index}`);
  const consumer = await options.openConsumer(topic);
  try {
    for (let index = 0; index <= valid.length; index++) {
      const last = index === valid.length;
      await options.publishRaw(
        topic,
        options.encode({
          topic,
          producerId: 'bad-input-producer',
          sequence: index,
          events: last
            ? [{ type: 'end-of-stream' }]
            : [
                {
                  type: 'new-object',
                  metadata: {},
                  evict: false,
                  body: { kind: 'inline', data: label(valid[index]!) },
                },
              ],
        }),
      );
      if (!last) await options.publishRaw(topic, garbage[index]!);
    }

    const received: string[] = [];
    const errors: unknown[] = [];
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const silence = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TimeoutError(
                `after ${received.length} valid events and ${errors.length} decode errors, nothing for ${inactivityMs} ms`,
              ),
            ),
          inactivityMs,
        );
      });
      try {
        const result = await Promise.race([consumer.nextObject(), silence]);
        if (result.done) break;
        expect(result.value).toBeInstanceOf(Uint8Array);
        received.push(readLabel(result.value as Uint8Array));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        errors.push(error);
      } finally {
        clearTimeout(timer);
      }
    }
    expect(received).toEqual(valid);
    expect(errors).toHaveLength(garbage.length);
    for (const error of errors) {
      expect(error).toBeInstanceOf(DecodeError);
      expect((error as DecodeError).code).toBe('DECODE_FAILED');
    }
  } finally {
    await consumer.close();
  }
}
