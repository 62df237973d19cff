import { DecodeError } from '@proxystream/protocols';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The last string read by {@link BinaryReader.cachedString} with this cache, and its bytes. */
export interface StringCache {
  bytes: Uint8Array;
  value: string;
}

function readU32(data: Uint8Array, p: number): number {
  return data[p]! * 0x100_0000 + ((data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!);
}

/**
 * A bounds-checked big-endian byte reader: every read past the end, and every invalid UTF-8
 * string, throws {@link DecodeError}. Internal: not exported from the package.
 */
export class BinaryReader {
  readonly #data: Uint8Array;
  /** Made on first use: the wire codec reads only bytes and unsigned integers. */
  #dataView: DataView | undefined;
  /** A `Buffer` over the same bytes, made on first use (hex and ASCII strings only). */
  #dataBuffer: Buffer | undefined;
  readonly #what: string;
  #position = 0;

  constructor(data: Uint8Array, what: string) {
    this.#data = data;
    this.#what = what;
  }

  get #view(): DataView {
    this.#dataView ??= new DataView(
      this.#data.buffer,
      this.#data.byteOffset,
      this.#data.byteLength,
    );
    return this.#dataView;
  }

  get #buffer(): Buffer {
    this.#dataBuffer ??= Buffer.from(
      this.#data.buffer,
      this.#data.byteOffset,
      this.#data.byteLength,
    );
    return this.#dataBuffer;
  }

  get position(): number {
    return this.#position;
  }

  get remaining(): number {
    return this.#data.byteLength - this.#position;
  }

  u8(): number {
    this.#need(1);
    return this.#data[this.#position++]!;
  }

  u16(): number {
    this.#need(2);
    const data = this.#data;
    const p = this.#position;
    this.#position = p + 2;
    return (data[p]! << 8) | data[p + 1]!;
  }

  u32(): number {
    this.#need(4);
    const p = this.#position;
    this.#position = p + 4;
    return readU32(this.#data, p);
  }

  i32(): number {
    this.#need(4);
    const value = this.#view.getInt32(this.#position);
    this.#position += 4;
    return value;
  }

  /** Reads an unsigned 64-bit integer; rejects values above `Number.MAX_SAFE_INTEGER`. */
  u64(): number {
    this.#need(8);
    const high = readU32(this.#data, this.#position);
    const low = readU32(this.#data, this.#position + 4);
    this.#position += 8;
    if (high > 0x1f_ffff) this.fail('64-bit integer above Number.MAX_SAFE_INTEGER');
    return high * 0x1_0000_0000 + low;
  }

  f64(): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.#position);
    this.#position += 8;
    return value;
  }

  /**
   * A plain `Uint8Array` view of the next `length` bytes (no copy), also when the data is a
   * `Buffer`: `Buffer#subarray` costs more, and consumers would wrap it in a plain view anyway.
   */
  bytes(length: number): Uint8Array {
    this.#need(length);
    const data = this.#data;
    const view = new Uint8Array(data.buffer, data.byteOffset + this.#position, length);
    this.#position += length;
    return view;
  }

  /** Decodes the next `length` bytes as strict UTF-8. */
  string(length: number): string {
    const bytes = this.bytes(length);
    try {
      return utf8.decode(bytes);
    } catch (error) {
      this.fail('invalid UTF-8 in a string', error);
    }
  }

  /** The next `length` bytes as lowercase hex (`2 * length` characters). */
  hex(length: number): string {
    this.#need(length);
    const p = this.#position;
    this.#position = p + length;
    return this.#buffer.toString('hex', p, p + length);
  }

  /** The next `length` bytes as a string; each must be printable ASCII (0x20–0x7e). */
  printableAscii(length: number, what: string): string {
    this.#need(length);
    const data = this.#data;
    const start = this.#position;
    for (let i = start; i < start + length; i++) {
      const byte = data[i]!;
      if (byte < 0x20 || byte > 0x7e) {
        this.#position = i;
        this.fail(
          `byte 0x${byte.toString(16).padStart(2, '0')} in the ${what} is not printable ASCII`,
        );
      }
    }
    this.#position = start + length;
    return this.#buffer.toString('latin1', start, start + length);
  }

  /**
   * Like {@link string}, but returns `cache.value` without decoding when the next `length` bytes
   * equal `cache.bytes` (a topic or producer id repeats in every message of a stream); otherwise
   * decodes and remembers the bytes (a copy, so that the message can be freed) and the string.
   */
  cachedString(length: number, cache: StringCache): string {
    this.#need(length);
    const data = this.#data;
    const start = this.#position;
    const known = cache.bytes;
    if (known.byteLength === length) {
      let i = 0;
      while (i < length && data[start + i] === known[i]) i++;
      if (i === length) {
        this.#position = start + length;
        return cache.value;
      }
    }
    const value = this.string(length);
    // Uint8Array's slice copies (Buffer's would be a view keeping the whole message alive).
    cache.bytes = Uint8Array.prototype.slice.call(data, start, start + length);
    cache.value = value;
    return value;
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing byte(s)`);
  }

  fail(reason: string, cause?: unknown): never {
    throw new DecodeError(`malformed ${this.#what}: ${reason} at byte ${this.#position}`, {
      cause,
    });
  }

  #need(length: number): void {
    if (this.#position + length > this.#data.byteLength) {
      this.fail(`needs ${length} byte(s), ${this.remaining} left`);
    }
  }
}
