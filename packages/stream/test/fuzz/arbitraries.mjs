// What the fuzz tests (packages/stream/test/fuzz.test.ts and fuzz/*.test.ts, a few thousand cases
// on the sources) and scripts/fuzz.mjs (100 000 cases on the build) share: the generators, and
// the sandbox of sentinel files that the file store and its factory must never reach. Plain
// JavaScript so that the script loads it without a TypeScript step; types in arbitraries.d.mts.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import fc from 'fast-check';

/** The fast-check instance the generators are built with (scripts/fuzz.mjs runs them with it). */
export { fc };

/** Seed of the vitest runs, so that CI is deterministic; FUZZ_SEED explores other cases. */
export const DEFAULT_SEED = 20_261_126;

const metadata = fc.dictionary(fc.string(), fc.jsonValue());

/** Stream events: end-of-stream, or a new object inline or stored, with arbitrary metadata. */
export const streamEvent = fc.oneof(
  fc.constant({ type: 'end-of-stream' }),
  fc.record({
    type: fc.constant('new-object'),
    metadata,
    evict: fc.boolean(),
    body: fc.oneof(
      fc.record({ kind: fc.constant('inline'), data: fc.uint8Array({ maxLength: 64 }) }),
      fc.record({ kind: fc.constant('stored'), key: fc.string({ maxLength: 40 }) }),
    ),
  }),
);

/** Event batches as a producer sends them; a store config whenever an event is stored. */
export const eventBatch = fc
  .record({
    topic: fc.string({ maxLength: 30 }),
    producerId: fc.string({ maxLength: 20 }),
    sequence: fc.maxSafeNat(),
    events: fc.array(streamEvent, { maxLength: 6 }),
    storeName: fc.string(),
  })
  .map(({ storeName, ...rest }) =>
    rest.events.some((e) => e.type === 'new-object' && e.body.kind === 'stored')
      ? { ...rest, store: { kind: 'memory', name: storeName } }
      : rest,
  );

/** What the default serializer takes: JSON-like values, bigints, byte arrays, dates, nested. */
export const serializable = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    fc.bigInt(),
    fc.uint8Array({ maxLength: 16 }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** The form of the keys the file and memory stores make. */
export const HEX32 = /^[0-9a-f]{32}$/;

/** Keys of that form. */
export const hex32 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((bytes) => Buffer.from(bytes).toString('hex'));

/** What the sentinel files hold. */
export const SENTINEL_TEXT = 'outside the store: must never be read, changed or removed';
/** A sentinel with a name a valid key could have: reachable through a path only, never by name. */
const KEY_LIKE = '0123456789abcdef0123456789abcdef';

/** Whether `directory` lies outside `root` (or is not under it at all). */
export function isOutside(root, directory) {
  const inside = relative(root, directory);
  return inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
}

/**
 * A temporary directory holding `store/` (for a file store), `sibling/` with two sentinel files,
 * a sentinel next to them, and `allowed/` (with `inner/` and a link out to `sibling/`) as the
 * root a file store factory may open.
 */
export async function fuzzSandbox() {
  const sandbox = await mkdtemp(join(tmpdir(), 'proxystream-fuzz-'));
  const storeDir = join(sandbox, 'store');
  const sibling = join(sandbox, 'sibling');
  const allowed = join(sandbox, 'allowed');
  await mkdir(sibling);
  await mkdir(join(allowed, 'inner'), { recursive: true });
  await symlink(sibling, join(allowed, 'link-out'));
  const sentinels = [join(sibling, 'sentinel'), join(sandbox, 'sentinel'), join(sibling, KEY_LIKE)];
  for (const path of sentinels) await writeFile(path, SENTINEL_TEXT);

  /** Path-like strings: dots, separators, NUL, names of the sandbox, keys, anything. */
  const pathLike = fc
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

  return {
    sandbox,
    storeDir,
    sibling,
    allowed,
    sentinels,
    pathLike,
    /** Keys for `get`/`exists`/`evict`: anything, path-like, aimed at the sentinels, near misses. */
    storeKey(kept) {
      const aimed = [
        '../sibling/sentinel',
        '../sentinel',
        `..${sep}sibling${sep}${KEY_LIKE}`,
        relative(storeDir, sentinels[2]),
        ...sentinels,
        '..',
        '.',
        '',
        `${kept}/../../sentinel`,
        `${kept}\0`,
        kept.toUpperCase(),
      ];
      return fc.oneof(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.constantFrom(...aimed),
        pathLike,
        hex32,
        fc.tuple(hex32, fc.string({ maxLength: 3 })).map(([k, s]) => k + s),
      );
    },
    /** File store configs from the wire: directories in, around and out of `allowed/`, and junk. */
    storeConfig() {
      const directory = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 60 }),
        pathLike.map((path) => join(allowed, path)),
        pathLike.map((path) => `${allowed}/${path}`),
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
      return fc.oneof(
        directory.map((dir) => ({ kind: 'file', name: 'fuzz', directory: dir })),
        fc.record({
          kind: fc.string({ maxLength: 8 }),
          name: fc.string(),
          directory: fc.jsonValue(),
        }),
      );
    },
    /** What changed that must not have: sentinels, the sibling directory, the store's files. */
    async damage(kept) {
      const problems = [];
      for (const path of sentinels) {
        if ((await readFile(path, 'utf8')) !== SENTINEL_TEXT) problems.push(`${path} was changed`);
      }
      const siblings = (await readdir(sibling)).sort();
      if (siblings.join('/') !== [KEY_LIKE, 'sentinel'].join('/'))
        problems.push(`the sibling directory holds ${siblings}`);
      const inStore = await readdir(storeDir);
      if (inStore.length !== 1 || inStore[0] !== kept)
        problems.push(`the store directory holds ${inStore}, expected only ${kept}`);
      return problems;
    },
    remove: () => rm(sandbox, { recursive: true, force: true }),
  };
}
