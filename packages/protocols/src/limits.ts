import { MessageTooLargeError } from './errors.js';

/** Throws {@link MessageTooLargeError} when `message` is longer than `limit` bytes. */
export function assertMessageSize(message: Uint8Array, limit: number): void {
  if (message.byteLength > limit) throw new MessageTooLargeError(message.byteLength, limit);
}
