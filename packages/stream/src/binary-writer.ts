/**
 * A growable big-endian byte writer shared by the wire codec and the default serializer.
 * Internal: not exported from the package.
 */
export class BinaryWriter {
  #buffer: Buffer;
  #view: DataView;
  #position = 0;

  /**
   * @param pooled Take a small buffer from Node's shared pool (`Buffer.allocUnsafe`, several times
   *   cheaper): only for output that is not kept long, since a view keeps its pool slab alive.
   */
  constructor(initialSize = 256, pooled = false) {
    const size = Math.max(16, initialSize);
    this.#buffer = pooled ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size);
    this.#view = new DataView(
      this.#buffer.buffer,
      this.#buffer.byteOffset,
      this.#buffer.byteLength,
    );
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#position;
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#position++] = value;
  }

  u16(value: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.#position, value);
    this.#position += 2;
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#position, value);
    this.#position += 4;
  }

  i32(value: number): void {
    this.#reserve(4);
    this.#view.setInt32(this.#position, value);
    this.#position += 4;
  }

  /** Writes a non-negative safe integer as an unsigned 64-bit value. */
  u64(value: number): void {
    this.#reserve(8);
    this.#view.setUint32(this.#position, Math.floor(value / 0x1_0000_0000));
    this.#view.setUint32(this.#position + 4, value >>> 0);
    this.#position += 8;
  }

  f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#position, value);
    this.#position += 8;
  }

  bytes(data: Uint8Array): void {
    this.#reserve(data.byteLength);
    this.#buffer.set(data, this.#position);
    this.#position += data.byteLength;
  }

  /** Writes a UTF-8 string preceded by its byte length as u32. */
  string32(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.u32(length);
    this.#reserve(length);
    this.#buffer.write(value, this.#position, length, 'utf8');
    this.#position += length;
  }

  /** Writes a UTF-8 string preceded by its byte length as u16; the caller checks the length. */
  string16(value: string, length: number): void {
    this.u16(length);
    this.#reserve(length);
    this.#buffer.write(value, this.#position, length, 'utf8');
    this.#position += length;
  }

  /** The written bytes (a view, not a copy). The writer must not be used afterwards. */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#position);
  }

  #reserve(extra: number): void {
    const needed = this.#position + extra;
    if (needed <= this.#buffer.byteLength) return;
    let size = this.#buffer.byteLength * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.#buffer.copy(grown, 0, 0, this.#position);
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}
