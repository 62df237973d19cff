import { InvalidArgumentError, type Serializer } from '@proxystream/protocols';
import { BinaryReader } from './binary-reader.js';
import { BinaryWriter } from './binary-writer.js';

/**
 * First bytes of every structured value written by {@link defaultSerializer}: `0xF9 'p' 'x' 's'`.
 * `0xF9` never occurs in UTF-8 text, so real payloads rarely start with it.
 */
export const SERIALIZER_MARKER: Uint8Array = Uint8Array.of(0xf9, 0x70, 0x78, 0x73);

/** Version of the structured encoding, written after {@link SERIALIZER_MARKER}. */
export const SERIALIZER_VERSION = 1;

enum Tag {
  Undefined = 0x00,
  Null = 0x01,
  False = 0x02,
  True = 0x03,
  Int32 = 0x04,
  Float64 = 0x05,
  BigInt = 0x06,
  String = 0x07,
  Array = 0x08,
  Object = 0x09,
  Map = 0x0a,
  Set = 0x0b,
  Date = 0x0c,
  Bytes = 0x0d,
  TypedArray = 0x0e,
  ArrayBuffer = 0x0f,
  Buffer = 0x10,
}

type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

// Index = kind byte on the wire; 0 is unused (Uint8Array has its own tag).
const TYPED_ARRAYS: readonly (TypedArrayConstructor | undefined)[] = [
  undefined,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

const MAX_DEPTH = 512;

function startsWithMarker(data: Uint8Array): boolean {
  return (
    data.byteLength >= 4 &&
    data[0] === 0xf9 &&
    data[1] === 0x70 &&
    data[2] === 0x78 &&
    data[3] === 0x73
  );
}

function typedArrayKind(value: ArrayBufferView): number {
  const ctor = value.constructor;
  for (let kind = 1; kind < TYPED_ARRAYS.length; kind++) {
    if (TYPED_ARRAYS[kind] === ctor) return kind;
  }
  return 0;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function fail(reason: string): never {
  throw new InvalidArgumentError(
    `defaultSerializer cannot serialize ${reason}; pass a custom serializer to the producer and consumer`,
  );
}

function writeValue(writer: BinaryWriter, value: unknown, seen: Set<object>): void {
  switch (typeof value) {
    case 'undefined':
      writer.u8(Tag.Undefined);
      return;
    case 'boolean':
      writer.u8(value ? Tag.True : Tag.False);
      return;
    case 'number':
      if (
        Number.isInteger(value) &&
        value >= -0x8000_0000 &&
        value <= 0x7fff_ffff &&
        !Object.is(value, -0)
      ) {
        writer.u8(Tag.Int32);
        writer.i32(value);
      } else {
        writer.u8(Tag.Float64);
        writer.f64(value);
      }
      return;
    case 'string':
      writer.u8(Tag.String);
      writer.string32(value);
      return;
    case 'bigint': {
      writer.u8(Tag.BigInt);
      writer.u8(value < 0n ? 1 : 0);
      let hex = (value < 0n ? -value : value).toString(16);
      if (hex.length % 2 === 1) hex = `0${hex}`;
      const magnitude = Buffer.from(hex, 'hex');
      writer.u32(magnitude.byteLength);
      writer.bytes(magnitude);
      return;
    }
    case 'object':
      break;
    default:
      fail(`a value of type ${typeof value}`);
  }
  if (value === null) {
    writer.u8(Tag.Null);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    writeView(writer, value);
    return;
  }
  if (value instanceof ArrayBuffer) {
    writer.u8(Tag.ArrayBuffer);
    writer.u32(value.byteLength);
    writer.bytes(new Uint8Array(value));
    return;
  }
  if (value instanceof Date) {
    writer.u8(Tag.Date);
    writer.f64(value.getTime());
    return;
  }
  if (seen.has(value)) fail('a cyclic structure');
  if (seen.size >= MAX_DEPTH) fail(`a structure nested deeper than ${MAX_DEPTH} levels`);
  seen.add(value);
  if (Array.isArray(value)) {
    writer.u8(Tag.Array);
    writer.u32(value.length);
    for (let i = 0; i < value.length; i++) writeValue(writer, value[i], seen);
  } else if (value instanceof Map) {
    writer.u8(Tag.Map);
    writer.u32(value.size);
    for (const [key, item] of value) {
      writeValue(writer, key, seen);
      writeValue(writer, item, seen);
    }
  } else if (value instanceof Set) {
    writer.u8(Tag.Set);
    writer.u32(value.size);
    for (const item of value) writeValue(writer, item, seen);
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value);
    writer.u8(Tag.Object);
    writer.u32(keys.length);
    for (const key of keys) {
      writer.string32(key);
      writeValue(writer, (value as Record<string, unknown>)[key], seen);
    }
  } else {
    fail(
      `an instance of ${value.constructor?.name ?? 'a class'} (only plain objects, arrays, Map, Set, Date, typed arrays)`,
    );
  }
  seen.delete(value);
}

function writeView(writer: BinaryWriter, value: ArrayBufferView): void {
  const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Uint8Array) {
    writer.u8(Buffer.isBuffer(value) ? Tag.Buffer : Tag.Bytes);
    writer.u32(bytes.byteLength);
    writer.bytes(bytes);
    return;
  }
  const kind = typedArrayKind(value);
  if (kind === 0) fail(`a ${value.constructor.name}`);
  writer.u8(Tag.TypedArray);
  writer.u8(kind);
  writer.u32(bytes.byteLength);
  writer.bytes(bytes);
}

function readValue(reader: BinaryReader, depth: number): unknown {
  const tag = reader.u8();
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Int32:
      return reader.i32();
    case Tag.Float64:
      return reader.f64();
    case Tag.BigInt: {
      const negative = reader.u8();
      if (negative > 1) reader.fail('invalid bigint sign');
      const magnitude = reader.bytes(reader.u32());
      const value =
        magnitude.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(magnitude).toString('hex')}`);
      return negative === 1 ? -value : value;
    }
    case Tag.String:
      return reader.string(reader.u32());
    case Tag.Date:
      return new Date(reader.f64());
    case Tag.Bytes:
      return new Uint8Array(reader.bytes(reader.u32()));
    case Tag.Buffer:
      return Buffer.from(reader.bytes(reader.u32()));
    case Tag.ArrayBuffer: {
      const bytes = reader.bytes(reader.u32());
      const buffer = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(buffer).set(bytes);
      return buffer;
    }
    case Tag.TypedArray: {
      const ctor = TYPED_ARRAYS[reader.u8()];
      if (ctor === undefined) reader.fail('unknown typed array kind');
      const bytes = reader.bytes(reader.u32());
      if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0)
        reader.fail('typed array length not a multiple of its element size');
      // Copy into a fresh, aligned buffer: the source offset may not be a multiple of the element size.
      const buffer = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(buffer).set(bytes);
      return new ctor(buffer);
    }
    default:
      break;
  }
  if (depth >= MAX_DEPTH) reader.fail(`nesting deeper than ${MAX_DEPTH} levels`);
  switch (tag) {
    case Tag.Array: {
      const count = reader.u32();
      if (count > reader.remaining) reader.fail('array longer than the data');
      const array: unknown[] = new Array(count);
      for (let i = 0; i < count; i++) array[i] = readValue(reader, depth + 1);
      return array;
    }
    case Tag.Object: {
      const count = reader.u32();
      if (count > reader.remaining) reader.fail('object larger than the data');
      const object: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const key = reader.string(reader.u32());
        const item = readValue(reader, depth + 1);
        // Assignment to "__proto__" would change the prototype; define it as an own property instead.
        if (key === '__proto__') {
          Object.defineProperty(object, key, {
            value: item,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else {
          object[key] = item;
        }
      }
      return object;
    }
    case Tag.Map: {
      const count = reader.u32();
      if (count > reader.remaining) reader.fail('map larger than the data');
      const map = new Map<unknown, unknown>();
      for (let i = 0; i < count; i++) {
        const key = readValue(reader, depth + 1);
        map.set(key, readValue(reader, depth + 1));
      }
      return map;
    }
    case Tag.Set: {
      const count = reader.u32();
      if (count > reader.remaining) reader.fail('set larger than the data');
      const set = new Set<unknown>();
      for (let i = 0; i < count; i++) set.add(readValue(reader, depth + 1));
      return set;
    }
    default:
      return reader.fail(`unknown value tag 0x${tag.toString(16).padStart(2, '0')}`);
  }
}

/**
 * The default {@link Serializer}: a small tagged binary format that never evaluates code.
 *
 * - A `Uint8Array` (or `Buffer`) is stored as its own bytes, **without a copy** in either
 *   direction, unless it happens to start with {@link SERIALIZER_MARKER}; deserialising returns
 *   a plain `Uint8Array` view of the received bytes (also when a `Buffer` was sent: wrap it
 *   with `Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)` if you need one, still without a copy).
 * - Everything else is written after the marker and a version byte: `undefined`, `null`,
 *   booleans, numbers (including `NaN`, `-0`, infinities), `BigInt`, strings, arrays, plain
 *   objects, `Map`, `Set`, `Date`, `ArrayBuffer`, `Buffer` and every typed array round-trip.
 * - Functions, symbols, class instances and cycles are rejected with `InvalidArgumentError`;
 *   malformed structured data with `DecodeError`. Bytes without the marker are, by definition,
 *   a byte payload and decode as such.
 *
 * Typed arrays are written in the host's byte order (little-endian on every platform Node ships for).
 */
export const defaultSerializer: Serializer<unknown> = {
  serialize(value: unknown): Uint8Array {
    if (value instanceof Uint8Array && !startsWithMarker(value)) {
      return value;
    }
    const writer = new BinaryWriter(typeof value === 'string' ? value.length * 3 + 16 : 64);
    writer.bytes(SERIALIZER_MARKER);
    writer.u8(SERIALIZER_VERSION);
    writeValue(writer, value, new Set());
    return writer.finish();
  },

  deserialize(data: Uint8Array): unknown {
    if (!startsWithMarker(data)) {
      // A plain Uint8Array whatever the transport produced (Buffer, subclass): a view, not a copy.
      return data.constructor === Uint8Array
        ? data
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    const reader = new BinaryReader(data, 'serialized value');
    reader.bytes(4);
    const version = reader.u8();
    if (version !== SERIALIZER_VERSION) {
      reader.fail(
        `unsupported serializer version ${version}; this build reads version ${SERIALIZER_VERSION}`,
      );
    }
    const value = readValue(reader, 0);
    reader.end();
    return value;
  },
};
