/** Turns objects into bytes and back. Implementations must never evaluate code from the bytes. */
export interface Serializer<T = unknown> {
  /** Encodes `value`. */
  serialize(value: T): Uint8Array;
  /**
   * Decodes bytes made by {@link Serializer.serialize}.
   * @throws {@link DecodeError} on bytes it cannot decode.
   */
  deserialize(data: Uint8Array): T;
}
