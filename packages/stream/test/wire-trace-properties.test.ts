import {
  DecodeError,
  type EventBatch,
  InvalidArgumentError,
  type NewObjectEvent,
  type StreamEvent,
  type TraceContext,
} from '@proxystream/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../src/wire-codec.js';
import { DEFAULT_SEED, eventBatch } from './fuzz/arbitraries.mjs';

// Same seeding as fuzz.test.ts: deterministic in CI, FUZZ_SEED explores other cases.
const seed = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);

/** Compares bytes by value whatever their class, and metadata as JSON carries it (no -0). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  if (Object.is(value, -0)) return 0;
  return value;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const notAllZero = (bytes: Uint8Array) => bytes.some((byte) => byte !== 0);

const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

/** Valid W3C trace contexts; a tracestate, when present, is never empty (empty is written as none). */
const traceContext: fc.Arbitrary<TraceContext> = fc
  .record({
    traceId: fc.uint8Array({ minLength: 16, maxLength: 16 }).filter(notAllZero).map(hex),
    spanId: fc.uint8Array({ minLength: 8, maxLength: 8 }).filter(notAllZero).map(hex),
    traceFlags: fc.integer({ min: 0, max: 255 }),
    traceState: fc.option(fc.string({ unit: printableChar, minLength: 1, maxLength: 512 }), {
      nil: undefined,
    }),
  })
  .map(({ traceState, ...rest }) => (traceState === undefined ? rest : { ...rest, traceState }));

/** The shared fuzz batches, with a trace context on some of their objects (none, some or all). */
const tracedBatch: fc.Arbitrary<EventBatch> = fc
  .tuple(eventBatch, fc.array(fc.option(traceContext, { nil: undefined }), { maxLength: 6 }))
  .map(([batch, traces]) => ({
    ...batch,
    events: batch.events.map((event, i): StreamEvent => {
      const trace = traces[i];
      return event.type === 'new-object' && trace !== undefined ? { ...event, trace } : event;
    }),
  }));

const isTraced = (event: StreamEvent) => event.type === 'new-object' && event.trace !== undefined;

describe('wire codec properties: trace contexts', () => {
  it('round-trips arbitrary batches with arbitrary trace contexts, byte for byte', () => {
    fc.assert(
      fc.property(tracedBatch, (original) => {
        const bytes = encodeBatch(original);
        expect(bytes[2]).toBe(original.events.some(isTraced) ? 2 : 1);
        const decoded = decodeBatch(bytes);
        expect(plain(decoded)).toEqual(plain(original));
        for (const [i, event] of decoded.events.entries()) {
          if (event.type === 'new-object') {
            expect(Object.hasOwn(event, 'trace')).toBe(isTraced(original.events[i]!));
          }
        }
        expect(Buffer.from(encodeBatch(decoded)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 500, seed },
    );
  });

  it('decodeBatch throws only DecodeError on corrupted traced envelopes', () => {
    const corrupted = fc
      .tuple(tracedBatch, fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([batch, position, value]) => {
        const bytes = Uint8Array.from(encodeBatch(batch));
        bytes[position % bytes.byteLength] = value;
        return bytes;
      });
    fc.assert(
      fc.property(corrupted, (bytes) => {
        try {
          const decoded = decodeBatch(bytes);
          // Whatever got through is a valid trace context that encodes again.
          for (const event of decoded.events) {
            if (event.type === 'new-object' && event.trace !== undefined) {
              expect(() => encodeBatch({ ...decoded, events: [event] })).not.toThrow();
            }
          }
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000, seed },
    );
  });

  it('encodeBatch accepts exactly the valid trace contexts and rejects the rest with InvalidArgumentError', () => {
    // Mostly valid fields, so that both outcomes occur often: about 40 % of the contexts are valid.
    const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
      fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: bad, weight: 1 });
    const nearHex = (length: number) =>
      fc.oneof(
        fc.string({
          unit: fc.constantFrom(...'0abcdefABCDEFg'),
          minLength: length - 1,
          maxLength: length + 1,
        }),
        fc.constant('0'.repeat(length)),
        fc.string({ maxLength: length + 2 }),
      );
    const anyTrace = fc.record({
      traceId: mostly(
        traceContext.map((trace) => trace.traceId),
        nearHex(32),
      ),
      spanId: mostly(
        traceContext.map((trace) => trace.spanId),
        nearHex(16),
      ),
      traceFlags: mostly(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.integer(), fc.double())),
      traceState: fc.option(
        mostly(
          fc.string({ unit: printableChar, maxLength: 512 }),
          fc.oneof(
            fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
            fc.string({ unit: printableChar, minLength: 513, maxLength: 520 }),
          ),
        ),
        { nil: undefined },
      ),
    });
    const seen = { valid: 0, invalid: 0 };
    const valid = (trace: TraceContext) =>
      /^[0-9a-f]{32}$/.test(trace.traceId) &&
      !/^0+$/.test(trace.traceId) &&
      /^[0-9a-f]{16}$/.test(trace.spanId) &&
      !/^0+$/.test(trace.spanId) &&
      Number.isInteger(trace.traceFlags) &&
      trace.traceFlags >= 0 &&
      trace.traceFlags <= 255 &&
      (trace.traceState === undefined || /^[\x20-\x7e]{0,512}$/.test(trace.traceState));
    fc.assert(
      fc.property(anyTrace, (trace) => {
        const event: NewObjectEvent = {
          type: 'new-object',
          metadata: {},
          evict: false,
          body: { kind: 'inline', data: new Uint8Array() },
          trace,
        };
        const batch: EventBatch = { topic: 't', producerId: 'p', sequence: 0, events: [event] };
        if (valid(trace)) {
          seen.valid++;
          const decoded = decodeBatch(encodeBatch(batch)).events[0] as NewObjectEvent;
          const { traceState, ...rest } = trace;
          expect(decoded.trace).toEqual(traceState ? trace : rest);
        } else {
          seen.invalid++;
          expect(() => encodeBatch(batch)).toThrow(InvalidArgumentError);
        }
      }),
      { numRuns: 1000, seed },
    );
    expect(seen.valid).toBeGreaterThan(100);
    expect(seen.invalid).toBeGreaterThan(100);
  });
});
