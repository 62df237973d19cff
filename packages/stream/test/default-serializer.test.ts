import { DecodeError, InvalidArgumentError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { defaultSerializer, SERIALIZER_MARKER } from '../src/default-serializer.js';

const roundTrip = (value: unknown) =>
  defaultSerializer.deserialize(defaultSerializer.serialize(value));

describe('defaultSerializer', () => {
  it('passes a Uint8Array through without copying in either direction', () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    const encoded = defaultSerializer.serialize(bytes);
    expect(encoded).toBe(bytes);
    expect(defaultSerializer.deserialize(encoded)).toBe(bytes);
  });

  it('passes a Buffer through without copying', () => {
    const buffer = Buffer.from('frame data');
    expect(defaultSerializer.serialize(buffer)).toBe(buffer);
  });

  it('round-trips bytes that happen to start with the marker', () => {
    const tricky = new Uint8Array([...SERIALIZER_MARKER, 1, 7, 9]);
    const encoded = defaultSerializer.serialize(tricky);
    expect(encoded).not.toBe(tricky);
    const decoded = defaultSerializer.deserialize(encoded) as Uint8Array;
    expect(Array.from(decoded)).toEqual(Array.from(tricky));
  });

  it('round-trips strings, numbers and the JSON-like values', () => {
    const values = [
      '',
      'héllo wörld ✓',
      0,
      -1,
      2 ** 31,
      -(2 ** 31) - 1,
      3.25,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      true,
      false,
      null,
      undefined,
      [1, 'two', [3], { four: 4 }],
      { nested: { deeper: [null, true, 'x'] }, empty: {}, list: [] },
    ];
    for (const value of values) expect(roundTrip(value)).toEqual(value);
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
  });

  it('round-trips Map, Set, Date and BigInt', () => {
    const value = {
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set(['x', 'y'])],
      ]),
      when: new Date('2024-02-03T04:05:06.789Z'),
      big: 12345678901234567890123456789n,
      negative: -42n,
      zero: 0n,
    };
    const decoded = roundTrip(value) as typeof value;
    expect(decoded.map).toBeInstanceOf(Map);
    expect(decoded.map.get(2)).toEqual(new Set(['x', 'y']));
    expect(decoded.when).toBeInstanceOf(Date);
    expect(decoded.when.toISOString()).toBe('2024-02-03T04:05:06.789Z');
    expect(decoded.big).toBe(12345678901234567890123456789n);
    expect(decoded.negative).toBe(-42n);
    expect(decoded.zero).toBe(0n);
  });

  it('round-trips every typed array kind, an ArrayBuffer and a nested Buffer', () => {
    const value = {
      i8: Int8Array.of(-1, 2),
      u8c: Uint8ClampedArray.of(255, 0),
      i16: Int16Array.of(-300, 300),
      u16: Uint16Array.of(65535),
      i32: Int32Array.of(-70000),
      u32: Uint32Array.of(4000000000),
      f32: Float32Array.of(1.5),
      f64: Float64Array.of(Math.PI),
      bi64: BigInt64Array.of(-5n),
      bu64: BigUint64Array.of(2n ** 63n),
      u8: Uint8Array.of(9, 8, 7),
      buffer: Buffer.from('abc'),
      raw: Uint8Array.of(1, 2, 3).buffer,
    };
    const decoded = roundTrip(value) as Record<string, unknown>;
    for (const [key, original] of Object.entries(value)) {
      expect(decoded[key], key).toEqual(original);
      expect((decoded[key] as object).constructor, key).toBe(original.constructor);
    }
  });

  it('keeps a "__proto__" key as data instead of changing the prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
    const decoded = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses functions, symbols, class instances and cycles', () => {
    class Point {
      x = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [() => 1, Symbol('s'), new Point(), cyclic, { f: () => 2 }]) {
      expect(() => defaultSerializer.serialize(value)).toThrow(InvalidArgumentError);
    }
  });

  it('throws DecodeError on garbage after the marker and on truncated data', () => {
    const good = defaultSerializer.serialize({ a: [1, 2, 3], b: 'text' });
    const cases = [
      Uint8Array.of(...SERIALIZER_MARKER),
      Uint8Array.of(...SERIALIZER_MARKER, 1),
      Uint8Array.of(...SERIALIZER_MARKER, 99, 0),
      Uint8Array.of(...SERIALIZER_MARKER, 1, 0xee),
      Uint8Array.of(...SERIALIZER_MARKER, 1, 0x08, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(...SERIALIZER_MARKER, 1, 0x07, 0, 0, 0, 2, 0xc3, 0x28),
      good.subarray(0, good.byteLength - 1),
      Uint8Array.of(...good, 0),
    ];
    for (const data of cases)
      expect(() => defaultSerializer.deserialize(data)).toThrow(DecodeError);
  });

  it('throws DecodeError rather than overflowing the stack on deep nesting', () => {
    const depth = 100_000;
    const data = new Uint8Array(5 + depth * 5 + 1);
    data.set(SERIALIZER_MARKER);
    data[4] = 1;
    for (let i = 0; i < depth; i++) data.set([0x08, 0, 0, 0, 1], 5 + i * 5);
    expect(() => defaultSerializer.deserialize(data)).toThrow(DecodeError);
  });
});
