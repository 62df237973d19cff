import { DecodeError } from '@proxystream/protocols';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A bounds-checked big-endian byte reader: every read past the end, and every invalid UTF-8
 * string, throws {@link DecodeError}. Internal: not exported from the package.
 */
export class BinaryReader {
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;
  #position = 0;

  constructor(data: Uint8Array, what: string) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.#what = what;
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
    const value = this.#view.getUint16(this.#position);
    this.#position += 2;
    return value;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#position);
    this.#position += 4;
    return value;
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
    const high = this.#view.getUint32(this.#position);
    const low = this.#view.getUint32(this.#position + 4);
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

  /** A view of the next `length` bytes (no copy). */
  bytes(length: number): Uint8Array {
    this.#need(length);
    const view = this.#data.subarray(this.#position, this.#position + length);
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
