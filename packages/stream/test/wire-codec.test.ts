import { readFileSync } from 'node:fs';
import {
  DecodeError,
  type EventBatch,
  InvalidArgumentError,
  type NewObjectEvent,
  type TraceContext,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, WIRE_FORMAT_VERSION } from '../src/wire-codec.js';

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
    expect(hex.length).toBeGreaterThanOrEqual(5);
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

  it('rejects each invalid vector of docs/wire-format.md for the reason its heading gives', () => {
    // A new rejected vector needs its reason here, so that a typo in its hex cannot pass unseen.
    const reasons: Record<string, RegExp> = {
      'version 3': /wire format version 3 is not supported/,
      'a trace context in a version-1 envelope': /unknown object flags 0x2 for version 1/,
      'an all-zero trace id': /all-zero trace id/,
      'an all-zero span id': /all-zero span id/,
      'a control character in the tracestate': /byte 0x0a in the tracestate/,
    };
    const vectors = [
      ...doc.matchAll(/### Rejected: (.*)\n[\s\S]*?```hex-invalid\n([\s\S]*?)```/g),
    ].map((match) => [match[1]!, match[2]!] as const);
    expect(vectors.length).toBe(blocks('hex-invalid').length);
    expect(vectors.map(([heading]) => heading).sort()).toEqual(Object.keys(reasons).sort());
    for (const [heading, text] of vectors) {
      expect(() => decodeBatch(fromHex(text)), heading).toThrow(reasons[heading]!);
    }
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

const traceparent: TraceContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
  traceState: 'congo=t61rcWkgMzE',
};

/** `sample` with a trace context on its first object (inline) and on its second (stored). */
const traced: EventBatch = {
  ...sample,
  events: [
    { ...(sample.events[0] as NewObjectEvent), trace: traceparent },
    {
      ...(sample.events[1] as NewObjectEvent),
      trace: { traceId: 'f'.repeat(32), spanId: '1'.repeat(16), traceFlags: 0 },
    },
    sample.events[2]!,
  ],
};

/** The batch with `trace` on every new-object event replaced by `trace` (or removed). */
function withTrace(batch: EventBatch, trace: TraceContext | undefined): EventBatch {
  return {
    ...batch,
    events: batch.events.map((event) => {
      if (event.type !== 'new-object') return event;
      const { trace: _, ...rest } = event;
      return trace === undefined ? rest : { ...rest, trace };
    }),
  };
}

const oneObject = (trace: Partial<TraceContext> & Record<string, unknown>): EventBatch => ({
  topic: 't',
  producerId: 'p',
  sequence: 0,
  events: [
    {
      type: 'new-object',
      metadata: {},
      evict: false,
      body: { kind: 'inline', data: Uint8Array.of(1) },
      trace: { ...traceparent, ...trace } as TraceContext,
    },
  ],
});

describe('wire codec: trace contexts (version 2)', () => {
  it('names version 2 the newest version', () => {
    expect(WIRE_FORMAT_VERSION).toBe(2);
  });

  it('writes version 1 when no event has a trace, version 2 when any has one', () => {
    expect(encodeBatch(sample)[2]).toBe(1);
    expect(encodeBatch({ ...sample, events: [] })[2]).toBe(1);
    expect(encodeBatch(traced)[2]).toBe(2);
    const oneTraced = { ...sample, events: [traced.events[0]!, ...sample.events.slice(1)] };
    expect(encodeBatch(oneTraced)[2]).toBe(2);
  });

  it('writes an untraced batch byte for byte as before, also when `trace` is present but undefined', () => {
    const explicit = {
      ...sample,
      events: sample.events.map((event) =>
        event.type === 'new-object' ? { ...event, trace: undefined } : event,
      ),
    };
    expect(Buffer.from(encodeBatch(explicit)).equals(Buffer.from(encodeBatch(sample)))).toBe(true);
    expect(Buffer.from(encodeBatch(withTrace(traced, undefined)))).toEqual(
      Buffer.from(encodeBatch(sample)),
    );
  });

  it('sets object flag bit 1 only on the traced objects, keeping the evict bit', () => {
    const mixed: EventBatch = {
      topic: 't',
      producerId: 'p',
      sequence: 0,
      events: [false, true, true, false].map((isTraced, i) => ({
        type: 'new-object' as const,
        metadata: {},
        evict: i % 2 === 0,
        body: { kind: 'inline' as const, data: Uint8Array.of(i) },
        ...(isTraced ? { trace: traceparent } : {}),
      })),
    };
    const bytes = encodeBatch(mixed);
    // Object flags follow the 22 bytes up to the event count and each event's type byte; an
    // untraced object takes 12 bytes here, a traced one 12 + 27 + 17 (its tracestate).
    const flagsAt = [23, 23 + 12, 23 + 12 + 56, 23 + 12 + 56 + 56];
    expect(flagsAt.map((at) => bytes[at])).toEqual([0x01, 0x02, 0x03, 0x00]);
    const decoded = decodeBatch(bytes).events as NewObjectEvent[];
    expect(decoded.map((event) => Object.hasOwn(event, 'trace'))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(decoded.map((event) => event.evict)).toEqual([true, false, true, false]);
  });

  it('round-trips trace contexts on inline and stored bodies, with and without tracestate', () => {
    const decoded = decodeBatch(encodeBatch(traced));
    expect(printable(decoded)).toEqual(printable(traced));
    const [inline, stored] = decoded.events as NewObjectEvent[];
    expect(inline!.trace).toEqual(traceparent);
    expect(Object.hasOwn(stored!.trace!, 'traceState')).toBe(false);
    expect(Buffer.from(encodeBatch(decoded)).equals(Buffer.from(encodeBatch(traced)))).toBe(true);
  });

  it('gives untraced events of a version-2 envelope no trace key at all', () => {
    const decoded = decodeBatch(
      encodeBatch({ ...traced, events: [sample.events[0]!, ...traced.events] }),
    );
    const first = decoded.events[0] as NewObjectEvent;
    expect(Object.keys(first)).toEqual(['type', 'metadata', 'evict', 'body']);
    expect(Object.hasOwn(decodeBatch(encodeBatch(sample)).events[0]!, 'trace')).toBe(false);
  });

  it('writes an empty tracestate as none', () => {
    const empty = encodeBatch(oneObject({ traceState: '' }));
    const none = encodeBatch(oneObject({ traceState: undefined }));
    expect(Buffer.from(empty).equals(Buffer.from(none))).toBe(true);
    const trace = (decodeBatch(empty).events[0] as NewObjectEvent).trace!;
    expect(Object.keys(trace)).toEqual(['traceId', 'spanId', 'traceFlags']);
  });

  it('accepts trace flags 0 and 255 and a 512-character tracestate of every printable character', () => {
    const printableAscii = String.fromCharCode(...Array.from({ length: 95 }, (_, i) => 0x20 + i));
    const longest = printableAscii.repeat(6).slice(0, 512);
    for (const trace of [
      { traceFlags: 0 },
      { traceFlags: 255 },
      { traceState: longest },
      { traceState: ' ' },
    ]) {
      const batch = oneObject(trace);
      expect((decodeBatch(encodeBatch(batch)).events[0] as NewObjectEvent).trace).toEqual(
        (batch.events[0] as NewObjectEvent).trace,
      );
    }
  });

  it('refuses to encode an invalid trace context with InvalidArgumentError', () => {
    const invalid: Record<string, unknown>[] = [
      { traceId: '4BF92F3577B34DA6A3CE929D0E0E4736' },
      { traceId: '4bf92f3577b34da6a3ce929d0e0e473' },
      { traceId: '4bf92f3577b34da6a3ce929d0e0e47366' },
      { traceId: '4bf92f3577b34da6a3ce929d0e0e473g' },
      { traceId: '0'.repeat(32) },
      { traceId: undefined },
      { traceId: 42 },
      { spanId: '00F067AA0BA902B7' },
      { spanId: '00f067aa0ba902b' },
      { spanId: '0'.repeat(16) },
      { spanId: `${'0'.repeat(15)}\n` },
      { spanId: null },
      { traceFlags: -1 },
      { traceFlags: 256 },
      { traceFlags: 1.5 },
      { traceFlags: Number.NaN },
      { traceFlags: '1' },
      { traceFlags: undefined },
      { traceState: 'x'.repeat(513) },
      { traceState: 'congo=t61rcWkgMzE\n' },
      { traceState: 'congo=\u00e9' },
      { traceState: 'congo=\x7f' },
      { traceState: 'congo=\x1f' },
      { traceState: 7 },
    ];
    for (const trace of invalid) {
      expect(() => encodeBatch(oneObject(trace)), JSON.stringify(trace)).toThrow(
        InvalidArgumentError,
      );
    }
  });

  it('rejects bad trace contexts, flag bits and versions in received envelopes with DecodeError', () => {
    const message = encodeBatch(oneObject({}));
    // Magic to producer id: 12 + 3 + 3 bytes; event count 4; object header and metadata 7.
    const trace = 12 + 3 + 3 + 4 + 7;
    const patched = (offset: number, ...values: number[]) => {
      const copy = Uint8Array.from(message);
      copy.set(values, offset);
      return copy;
    };
    const longState = Buffer.from(encodeBatch(oneObject({ traceState: 'x'.repeat(512) })));
    longState.writeUInt16BE(513, trace + 25);
    const cases: [string, Uint8Array, RegExp][] = [
      ['an all-zero trace id', patched(trace, ...new Array(16).fill(0)), /all-zero trace id/],
      ['an all-zero span id', patched(trace + 16, ...new Array(8).fill(0)), /all-zero span id/],
      ['a tracestate of 513 bytes', longState, /tracestate of 513 bytes/],
      ['a tracestate byte 0x7f', patched(trace + 27, 0x7f), /byte 0x7f in the tracestate/],
      ['a tracestate byte 0x1f', patched(trace + 28, 0x1f), /byte 0x1f in the tracestate/],
      ['a tracestate byte 0xc3', patched(trace + 29, 0xc3), /byte 0xc3 in the tracestate/],
      ['bit 1 in version 1', patched(2, 1), /unknown object flags 0x2 for version 1/],
      ['bit 2 in version 2', patched(trace - 6, 0x06), /unknown object flags 0x6 for version 2/],
      ['version 3', patched(2, 3), /version 3 is not supported .*reads versions 1 to 2/],
      ['version 255', patched(2, 255), /version 255 is not supported/],
      ['version 0', patched(2, 0), /version 0 is not supported/],
    ];
    for (const [what, bytes, reason] of cases) {
      expect(() => decodeBatch(bytes), what).toThrow(DecodeError);
      expect(() => decodeBatch(bytes), what).toThrow(reason);
    }
  });

  it('rejects every truncation of a traced envelope with DecodeError', () => {
    const message = encodeBatch(traced);
    for (let length = 0; length < message.byteLength; length++) {
      expect(() => decodeBatch(message.subarray(0, length)), `length ${length}`).toThrow(
        DecodeError,
      );
    }
  });
});
