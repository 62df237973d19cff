import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { InvalidStoreKeyError, ProxyStreamError } from '@proxystream/protocols';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../../src/file-store.js';

// The suite-sized run of the file store properties of scripts/fuzz.mjs (which runs 100 000 cases
// each against the build). FUZZ_RUNS raises the count here too.
const runs = Number(process.env.FUZZ_RUNS ?? 2000);
// A fixed seed keeps CI deterministic; FUZZ_SEED explores other cases.
const seed = Number(process.env.FUZZ_SEED ?? 20_261_126);

const HEX32 = /^[0-9a-f]{32}$/;
const SECRET = 'outside the store: must never be read, changed or removed';
const hex32 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((bytes) => Buffer.from(bytes).toString('hex'));

let sandbox: string;
let storeDir: string;
let sibling: string;
let sentinels: string[];

/** Path-like strings: dots, separators, NUL, names of the sandbox, keys, anything. */
const pathLike = () =>
  fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.constantFrom('..', '.', '/', '\\', '\0', '%2e%2e', 'sibling', 'sentinel', sandbox),
          hex32,
          fc.string({ maxLength: 8 }),
        ),
        { maxLength: 6 },
      ),
      fc.constantFrom('/', '\\', ''),
    )
    .map(([parts, separator]) => parts.join(separator));

beforeAll(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'proxystream-key-fuzz-'));
  storeDir = join(sandbox, 'store');
  sibling = join(sandbox, 'sibling');
  await mkdir(sibling);
  // The last one has a name a valid key could have: reachable through a path only, never by name.
  sentinels = [
    join(sibling, 'sentinel'),
    join(sandbox, 'sentinel'),
    join(sibling, '0123456789abcdef0123456789abcdef'),
  ];
  for (const path of sentinels) await writeFile(path, SECRET);
});

afterAll(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

describe('fuzzing the file store', () => {
  it('get, exists and evict accept only keys the store could have made and touch nothing outside its directory', async () => {
    const store = new FileStore({ directory: storeDir });
    const kept = await store.put(new TextEncoder().encode('kept'));
    const aimed = [
      '../sibling/sentinel',
      '../sentinel',
      relative(storeDir, sentinels[2]!),
      ...sentinels,
      '..',
      '.',
      '',
      `${kept}/../../sentinel`,
      `${kept}\0`,
      kept.toUpperCase(),
    ];
    const key = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constantFrom(...aimed),
      pathLike(),
      hex32,
      fc.tuple(hex32, fc.string({ maxLength: 3 })).map(([k, s]) => k + s),
    );
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
    for (const path of sentinels) expect(await readFile(path, 'utf8')).toBe(SECRET);
    expect((await readdir(sibling)).sort()).toEqual([
      '0123456789abcdef0123456789abcdef',
      'sentinel',
    ]);
    expect(await readdir(storeDir)).toEqual([kept]);
  });

  it('FileStoreFactory opens a directory from the wire only inside its allowed root, else fails with a typed error', async () => {
    const allowed = join(sandbox, 'allowed');
    await mkdir(join(allowed, 'inner'), { recursive: true });
    await symlink(sibling, join(allowed, 'link-out'));
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const directory = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      pathLike().map((path) => join(allowed, path)),
      pathLike().map((path) => `${allowed}/${path}`),
      fc.constantFrom(
        allowed,
        join(allowed, 'inner'),
        join(allowed, 'link-out'),
        `${allowed}/../sibling`,
        `${allowed}-evil`,
        sibling,
        '/',
        'relative/path',
      ),
    );
    const config = fc.oneof(
      directory.map((dir) => ({ kind: 'file', name: 'fuzz', directory: dir })),
      fc.record({
        kind: fc.string({ maxLength: 8 }),
        name: fc.string(),
        directory: fc.jsonValue(),
      }),
    );
    let opened = 0;
    await fc.assert(
      fc.asyncProperty(config, async (candidate) => {
        try {
          const store = await factory.open(candidate as never);
          opened++;
          const inside = relative(allowed, (store as FileStore).directory);
          expect(inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)).toBe(
            false,
          );
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
