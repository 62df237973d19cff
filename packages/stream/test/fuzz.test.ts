import { DecodeError } from '@proxystream/protocols';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultSerializer, SERIALIZER_MARKER } from '../src/default-serializer.js';
import { decodeBatch, encodeBatch } from '../src/wire-codec.js';
import { DEFAULT_SEED, eventBatch, serializable } from './fuzz/arbitraries.mjs';

// A fixed seed keeps CI deterministic; FUZZ_SEED explores other cases. The generators are those of
// scripts/fuzz.mjs, which runs these properties with far more cases against the build.
const seed = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);

/** Compares bytes by value whatever their class (Buffer views versus Uint8Array). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  // Metadata crosses the wire as JSON, which has no negative zero.
  if (Object.is(value, -0)) return 0;
  return value;
}

describe('fuzzing', () => {
  it('decodeBatch(encodeBatch(batch)) gives the batch back for arbitrary batches', () => {
    fc.assert(
      fc.property(eventBatch, (original) => {
        expect(plain(decodeBatch(encodeBatch(original)))).toEqual(plain(original));
      }),
      { numRuns: 500, seed },
    );
  });

  it('decodeBatch throws only DecodeError on arbitrary bytes and on corrupted envelopes', () => {
    const corrupted = fc
      .tuple(eventBatch, fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([b, position, value]) => {
        const bytes = Uint8Array.from(encodeBatch(b));
        bytes[position % bytes.byteLength] = value;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), corrupted), (bytes) => {
        try {
          decodeBatch(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000, seed },
    );
  });

  it('the default serializer round-trips arbitrary JSON-like values, bigints and byte arrays', () => {
    fc.assert(
      fc.property(serializable, (original) => {
        expect(defaultSerializer.deserialize(defaultSerializer.serialize(original))).toEqual(
          original,
        );
      }),
      { numRuns: 500, seed },
    );
  });

  it('the default serializer throws only DecodeError on corrupted structured data', () => {
    const corrupted = fc
      .tuple(fc.jsonValue(), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([original, position, value]) => {
        const bytes = Uint8Array.from(defaultSerializer.serialize(original));
        // Keep the marker so the bytes are read as structured data.
        bytes[
          SERIALIZER_MARKER.byteLength +
            (position % (bytes.byteLength - SERIALIZER_MARKER.byteLength))
        ] = value;
        return bytes;
      });
    fc.assert(
      fc.property(corrupted, (bytes) => {
        try {
          defaultSerializer.deserialize(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000, seed },
    );
  });
});
