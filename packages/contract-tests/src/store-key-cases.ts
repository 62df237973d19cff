import { InvalidStoreKeyError, type Store } from '@proxystream/protocols';
import { expect, it } from 'vitest';

/** Options of {@link longKeyMessageCase}. */
export interface LongKeyMessageCaseOptions {
  /** Store name, used in the test name. */
  name: string;
  /** A new, empty store; the case closes it. */
  createStore(): Promise<Store>;
  /** Length of the hostile key. Default 10 000. */
  keyLength?: number;
  /** Longest error message accepted, in characters. Default 200. */
  maxMessageLength?: number;
}

/**
 * Registers one test for a store that rejects keys it did not make: `get`, `exists` and `evict`
 * with a 10 000-character key fail with `InvalidStoreKeyError` whose message (and `key`) shows
 * the start of the key, so that a log line says which key it was, but stays under 200 characters
 * instead of repeating a hostile key whole. Call it at the top level of a store's test file.
 */
export function longKeyMessageCase(options: LongKeyMessageCaseOptions): void {
  const keyLength = options.keyLength ?? 10_000;
  const maxMessageLength = options.maxMessageLength ?? 200;
  it(`${options.name}: a ${keyLength}-character key is rejected with a message that shows its start, not all of it`, async () => {
    const start = 'hostile-key-start/';
    const key = start + 'x'.repeat(keyLength - start.length);
    const store = await options.createStore();
    try {
      for (const operation of ['get', 'exists', 'evict'] as const) {
        const error = await store[operation](key).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, `${operation} accepted the key`).toBeInstanceOf(InvalidStoreKeyError);
        const { message, key: shown } = error as InvalidStoreKeyError;
        expect(message.length, message).toBeLessThan(maxMessageLength);
        expect(message).toContain(start);
        expect(message).toContain(String(keyLength));
        expect(key.startsWith(shown)).toBe(true);
        expect(shown.length).toBeLessThan(maxMessageLength);
      }
    } finally {
      await store.close();
    }
  });
}
