/**
 * `data` as a Node `Buffer` over the same memory, without a copy (some clients, such as ioredis,
 * treat a plain `Uint8Array` as a string).
 */
export function bufferView(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * What a shim gives a client that writes a message on a later tick: a copy of `message` (from
 * Node's buffer pool when small), so that the caller may reuse its buffer once `send` returned;
 * or, when the caller handed the message over (`PublishOptions.owned`), the message itself as a
 * `Buffer` view. So a message is copied at most once between the caller and the client.
 */
export function bytesToSend(message: Uint8Array, owned: boolean | undefined): Buffer {
  if (owned === true) return bufferView(message);
  const copy = Buffer.allocUnsafe(message.byteLength);
  copy.set(message);
  return copy;
}
