import { randomBytes } from 'node:crypto';
import { InvalidStoreKeyError, type Store } from '@proxystream/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { within } from './helpers.js';
import type { StoreContractOptions } from './options.js';

const same = (a: Uint8Array | undefined, b: Uint8Array) =>
  a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/**
 * Registers the store contract as vitest suites: round trip, missing keys, eviction, batches,
 * large values, hostile keys, and a config that reopens the same data in a fresh instance.
 */
export function storeContract(options: StoreContractOptions): void {
  const open: Store[] = [];
  const store = async () => {
    const made = await options.createStore();
    open.push(made);
    return made;
  };

  describe(`${options.name}: store contract`, () => {
    afterEach(async () => {
      await within(Promise.all(open.splice(0).map((s) => s.close())), 30_000, 'closing stores');
    });

    it('returns what was put under the returned key', async () => {
      const s = await store();
      const data = randomBytes(1000);
      const key = await s.put(data);
      expect(typeof key).toBe('string');
      expect(same(await s.get(key), data)).toBe(true);
      expect(await s.exists(key)).toBe(true);
    });

    it('round-trips an empty value', async () => {
      const s = await store();
      const key = await s.put(new Uint8Array(0));
      const got = await s.get(key);
      expect(got?.byteLength).toBe(0);
      expect(await s.exists(key)).toBe(true);
    });

    it('gives distinct keys to equal values', async () => {
      const s = await store();
      const data = randomBytes(10);
      expect(await s.put(data)).not.toBe(await s.put(data));
    });

    it('answers undefined and false for a key it never stored', async () => {
      const s = await store();
      const key = await s.put(randomBytes(4));
      await s.evict(key);
      expect(await s.get(key)).toBeUndefined();
      expect(await s.exists(key)).toBe(false);
    });

    it('evict deletes the data, and evicting twice is not an error', async () => {
      const s = await store();
      const key = await s.put(randomBytes(100));
      await s.evict(key);
      expect(await s.exists(key)).toBe(false);
      await expect(s.evict(key)).resolves.toBeUndefined();
    });

    it('putBatch stores each value under its own key, in input order', async () => {
      const s = await store();
      const values = Array.from({ length: 25 }, (_, i) => randomBytes(i * 37));
      const keys = await s.putBatch(values);
      expect(keys).toHaveLength(values.length);
      expect(new Set(keys).size).toBe(values.length);
      for (let i = 0; i < values.length; i++) {
        expect(same(await s.get(keys[i]!), values[i]!)).toBe(true);
      }
      expect(await s.putBatch([])).toEqual([]);
    });

    it('round-trips a large value', async () => {
      const s = await store();
      const data = randomBytes(options.largeValueBytes ?? 16 * 1024 * 1024);
      const key = await s.put(data);
      expect(same(await s.get(key), data)).toBe(true);
    });

    it('a config that survives JSON reopens the same data in a fresh instance', async () => {
      const s = await store();
      const data = randomBytes(512);
      const key = await s.put(data);
      const config = JSON.parse(JSON.stringify(s.config()));
      expect(config).toEqual(s.config());
      expect(config.kind).toBe(s.kind);
      const reopened = await options.openFromConfig(config);
      open.push(reopened);
      expect(same(await reopened.get(key), data)).toBe(true);
      await reopened.evict(key);
      expect(await s.exists(key)).toBe(false);
    });

    it('never returns data for a hostile key: it answers nothing or InvalidStoreKeyError', async () => {
      const s = await store();
      await s.put(randomBytes(16));
      const hostile = [
        '../../../../etc/passwd',
        '/etc/passwd',
        '..',
        '',
        'a/../../b',
        '\0',
        'x'.repeat(5000),
      ];
      for (const key of hostile) {
        const got = await s.get(key).catch((error: unknown) => error);
        if (got instanceof Error) expect(got).toBeInstanceOf(InvalidStoreKeyError);
        else expect(got).toBeUndefined();
        const exists = await s.exists(key).catch((error: unknown) => error);
        if (exists instanceof Error) expect(exists).toBeInstanceOf(InvalidStoreKeyError);
        else expect(exists).toBe(false);
      }
    });

    it('close is safe to call twice', async () => {
      const s = await options.createStore();
      await s.close();
      await expect(s.close()).resolves.toBeUndefined();
    });
  });
}
