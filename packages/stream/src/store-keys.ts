import { randomBytes } from 'node:crypto';
import { InvalidStoreKeyError } from '@proxystream/protocols';

const KEY_PATTERN = /^[0-9a-f]{32}$/;

/** A new store key: 32 lowercase hex characters (128 random bits). Internal. */
export function newStoreKey(): string {
  return randomBytes(16).toString('hex');
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
