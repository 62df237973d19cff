import { InvalidStoreKeyError, ProxyStreamError } from '@proxystream/protocols';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../../src/file-store.js';
import { DEFAULT_SEED, type FuzzSandbox, fuzzSandbox, HEX32, isOutside } from './arbitraries.mjs';

// The suite-sized run of the file store properties of scripts/fuzz.mjs (which runs 100 000 cases
// each against the build, with the same generators). FUZZ_RUNS raises the count here too.
const runs = Number(process.env.FUZZ_RUNS ?? 2000);
// A fixed seed keeps CI deterministic; FUZZ_SEED explores other cases.
const seed = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);

let sandbox: FuzzSandbox;
beforeAll(async () => {
  sandbox = await fuzzSandbox();
});
afterAll(() => sandbox.remove());

describe('fuzzing the file store', () => {
  it('get, exists and evict accept only keys the store could have made and touch nothing outside its directory', async () => {
    const store = await FileStore.create({ directory: sandbox.storeDir });
    const kept = await store.put(new TextEncoder().encode('kept'));
    const key = sandbox.storeKey(kept);
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(key, async (candidate) => {
        const valid = HEX32.test(candidate);
        for (const operation of ['get', 'exists', 'evict'] as const) {
          let outcome: unknown;
          try {
            outcome = await store[operation](candidate);
          } catch (error) {
            expect(valid, `${operation}(${JSON.stringify(candidate)}) threw ${error}`).toBe(false);
            expect(error).toBeInstanceOf(InvalidStoreKeyError);
            rejected++;
            continue;
          }
          expect(valid, `${operation}(${JSON.stringify(candidate)}) was accepted`).toBe(true);
          if (operation === 'get' && candidate !== kept) expect(outcome).toBeUndefined();
        }
      }),
      { numRuns: runs, seed },
    );
    expect(rejected).toBeGreaterThan(0);
    expect(await sandbox.damage(kept)).toEqual([]);
  });

  it('FileStoreFactory opens a directory from the wire only inside its allowed root, else fails with a typed error', async () => {
    const factory = new FileStoreFactory({ allowedRoots: [sandbox.allowed] });
    const config = sandbox.storeConfig();
    let opened = 0;
    await fc.assert(
      fc.asyncProperty(config, async (candidate) => {
        try {
          const store = await factory.open(candidate as never);
          opened++;
          expect(isOutside(sandbox.allowed, (store as FileStore).directory)).toBe(false);
        } catch (error) {
          expect(error).toBeInstanceOf(ProxyStreamError);
          expect(['STORE_NOT_ALLOWED', 'STORE_FAILED']).toContain((error as ProxyStreamError).code);
        }
      }),
      { numRuns: runs, seed },
    );
    expect(opened).toBeGreaterThan(0);
  });
});
