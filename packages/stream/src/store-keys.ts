import { randomFillSync } from 'node:crypto';
import { InvalidStoreKeyError } from '@proxystream/protocols';

const KEY_PATTERN = /^[0-9a-f]{32}$/;

// Random bytes are drawn 4 KiB at a time: one system call per 256 keys instead of one per key.
const pool = Buffer.allocUnsafeSlow(4096);
let offset = pool.byteLength;

/** A new store key: 32 lowercase hex characters (128 random bits). Internal. */
export function newStoreKey(): string {
  if (offset === pool.byteLength) {
    randomFillSync(pool);
    offset = 0;
  }
  const key = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return key;
}

/** Throws {@link InvalidStoreKeyError} unless `key` has the form {@link newStoreKey} produces. Internal. */
export function assertStoreKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new InvalidStoreKeyError(
      String(key),
      'keys of this store are 32 lowercase hex characters',
    );
  }
}
