import { readFileSync } from 'node:fs';
import { DecodeError, type EventBatch, InvalidArgumentError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../src/wire-codec.js';

const doc = readFileSync(new URL('../../../docs/wire-format.md', import.meta.url), 'utf8');

function blocks(language: string): string[] {
  const pattern = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g');
  return [...doc.matchAll(pattern)].map((match) => match[1]!);
}

const fromHex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/** The batch as the JSON the document shows: inline data as hex. */
function printable(batch: EventBatch): unknown {
  return {
    ...batch,
    events: batch.events.map((event) =>
      event.type === 'new-object' && event.body.kind === 'inline'
        ? {
            ...event,
            body: { kind: 'inline', dataHex: Buffer.from(event.body.data).toString('hex') },
          }
        : event,
    ),
  };
}

const sample: EventBatch = {
  topic: 'frames/ünïcode',
  producerId: 'producer-1',
  sequence: 2 ** 40 + 3,
  store: { kind: 'memory', name: 'm1', extra: [1, { deep: true }] },
  events: [
    {
      type: 'new-object',
      metadata: {},
      evict: true,
      body: { kind: 'inline', data: Uint8Array.of(0, 255, 7) },
    },
    {
      type: 'new-object',
      metadata: { camera: 'left', n: 3 },
      evict: false,
      body: { kind: 'stored', key: 'k'.repeat(32) },
    },
    { type: 'end-of-stream' },
  ],
};

describe('wire codec', () => {
  it('decodes every test vector of docs/wire-format.md to the batch the document shows', () => {
    const hex = blocks('hex');
    const json = blocks('json');
    expect(hex.length).toBeGreaterThanOrEqual(3);
    expect(json.length).toBe(hex.length);
    for (let i = 0; i < hex.length; i++) {
      const bytes = fromHex(hex[i]!);
      const decoded = decodeBatch(bytes);
      expect(printable(decoded), `vector ${i + 1}`).toEqual(JSON.parse(json[i]!));
      expect(
        Buffer.from(encodeBatch(decoded)).equals(Buffer.from(bytes)),
        `vector ${i + 1} re-encodes`,
      ).toBe(true);
    }
  });

  it('rejects the invalid vectors of docs/wire-format.md with DecodeError', () => {
    const invalid = blocks('hex-invalid');
    expect(invalid.length).toBeGreaterThan(0);
    for (const text of invalid) expect(() => decodeBatch(fromHex(text))).toThrow(DecodeError);
  });

  it('round-trips a batch with a store config, mixed bodies and end of stream', () => {
    const decoded = decodeBatch(encodeBatch(sample));
    expect(printable(decoded)).toEqual(printable(sample));
  });

  it('carries inline payloads as raw bytes, not base64', () => {
    const payload = Buffer.from('a payload that base64 would disguise');
    const bytes = encodeBatch({
      topic: 't',
      producerId: 'p',
      sequence: 0,
      events: [
        { type: 'new-object', metadata: {}, evict: true, body: { kind: 'inline', data: payload } },
      ],
    });
    expect(Buffer.from(bytes).includes(payload)).toBe(true);
    expect(bytes.byteLength - payload.byteLength).toBeLessThan(40);
  });

  it('hands out inline payloads as views of the message, without copying', () => {
    const message = encodeBatch(sample);
    const event = decodeBatch(message).events[0]!;
    if (event.type !== 'new-object' || event.body.kind !== 'inline')
      throw new Error('expected inline');
    expect(event.body.data.buffer).toBe(message.buffer);
  });

  it('refuses to encode a live body, an over-long topic or a negative sequence', () => {
    const live: EventBatch = {
      topic: 't',
      producerId: 'p',
      sequence: 0,
      events: [{ type: 'new-object', metadata: {}, evict: true, body: { kind: 'live', value: 1 } }],
    };
    expect(() => encodeBatch(live)).toThrow(InvalidArgumentError);
    expect(() => encodeBatch({ ...live, events: [], topic: 'x'.repeat(70_000) })).toThrow(
      InvalidArgumentError,
    );
    expect(() => encodeBatch({ ...live, events: [], sequence: -1 })).toThrow(InvalidArgumentError);
  });

  it('rejects every truncation of a valid envelope with DecodeError', () => {
    const message = encodeBatch(sample);
    for (let length = 0; length < message.byteLength; length++) {
      expect(() => decodeBatch(message.subarray(0, length)), `length ${length}`).toThrow(
        DecodeError,
      );
    }
  });

  it('rejects foreign messages, trailing bytes, unknown flags and bad JSON with DecodeError', () => {
    const message = encodeBatch(sample);
    const patched = (offset: number, value: number) => {
      const copy = Uint8Array.from(message);
      copy[offset] = value;
      return copy;
    };
    const cases: Uint8Array[] = [
      new TextEncoder().encode('{"topic":"t"}'),
      Uint8Array.of(...message, 0),
      patched(3, 0x81),
      patched(0, 0x51),
      // metadata JSON "[]" in place of an object
      encodeBatch({ ...sample, store: undefined, events: [] }).slice(0, -4),
    ];
    const arrayMetadata = Buffer.from(
      encodeBatch({
        topic: 't',
        producerId: 'p',
        sequence: 0,
        events: [
          {
            type: 'new-object',
            metadata: { a: 1 },
            evict: false,
            body: { kind: 'inline', data: new Uint8Array() },
          },
        ],
      }),
    );
    arrayMetadata.write('[1,2,3]', arrayMetadata.indexOf('{"a":1}'));
    cases.push(arrayMetadata);
    const storedWithoutStore = Buffer.from(encodeBatch(sample));
    storedWithoutStore[3] = 0;
    cases.push(storedWithoutStore);
    for (const [index, bytes] of cases.entries()) {
      expect(() => decodeBatch(bytes), `case ${index}`).toThrow(DecodeError);
    }
  });

  it('keeps topics and producer ids apart when batches of several interleave', () => {
    const batch = (topic: string, producerId: string, sequence: number): EventBatch => ({
      topic,
      producerId,
      sequence,
      events: [
        {
          type: 'new-object',
          metadata: {},
          evict: false,
          body: { kind: 'inline', data: Uint8Array.of(sequence) },
        },
      ],
    });
    const sent = [
      batch('a', 'p1', 0),
      batch('a', 'p2', 1),
      batch('b', 'p1', 2),
      batch('a', 'p1', 3),
      batch('', 'p1', 4),
      batch('ab', 'p', 5),
      batch('a', 'p1', 6),
      batch('frames/ünïcode', 'p1', 7),
    ];
    const encoded = sent.map(encodeBatch);
    const decode = (bytes: Uint8Array) => printable(decodeBatch(bytes));
    expect(encoded.map(decode)).toEqual(sent.map(printable));
    // Decoding again, in another order, gives the same batches.
    expect([...encoded].reverse().map(decode)).toEqual([...sent].reverse().map(printable));
  });

  it('rejects a topic or producer id longer than 65535 bytes every time, not only the first', () => {
    const long = 'x'.repeat(70_000);
    for (let i = 0; i < 2; i++) {
      expect(() => encodeBatch({ topic: long, producerId: 'p', sequence: 0, events: [] })).toThrow(
        InvalidArgumentError,
      );
      expect(() => encodeBatch({ topic: 't', producerId: long, sequence: 0, events: [] })).toThrow(
        InvalidArgumentError,
      );
    }
  });
});
