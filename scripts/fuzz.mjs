#!/usr/bin/env node
// Property-based fuzzing (fast-check) of what a consumer reads from the wire, against the built
// packages (`pnpm build` first): the event decoder, the default serializer, the file store's key
// handling and the file store factory's directory check. Each property runs --runs cases (default
// 100 000); the vitest suite runs the same properties with a few thousand cases
// (packages/stream/test/fuzz.test.ts and packages/stream/test/fuzz/).
//
//   node scripts/fuzz.mjs [--runs 100000] [--seed 42] [--only decoder|serializer|file-store|factory]
//
// Passes when every case ends in a result or in the typed error the property allows (DecodeError,
// InvalidStoreKeyError, StoreNotAllowedError, StoreError), no file outside the store directory was
// read, changed or removed, and no directory outside the allowed root was opened. Prints one line
// per property with its case count and time, then a Markdown table for docs/security.md. The
// generators and the sandbox are those of the vitest suite (packages/stream/test/fuzz/arbitraries.mjs).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const streamDir = join(root, 'packages', 'stream');

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    only: { type: 'string' },
  },
});
const runs = Number(args.runs);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
const seed = args.seed === undefined ? Date.now() % 2 ** 31 : Number(args.seed);

let stream;
try {
  stream = await import(pathToFileURL(join(streamDir, 'dist', 'index.js')).href);
} catch (error) {
  console.error('cannot load packages/stream/dist: run `pnpm build` first');
  throw error;
}
// fast-check comes with the generators: one instance builds and runs them.
const { fc, eventBatch, fuzzSandbox, HEX32, isOutside, serializable } = await import(
  pathToFileURL(join(streamDir, 'test', 'fuzz', 'arbitraries.mjs')).href
);
const {
  decodeBatch,
  encodeBatch,
  defaultSerializer,
  SERIALIZER_MARKER,
  SERIALIZER_VERSION,
  FileStore,
  FileStoreFactory,
} = stream;

/** Rethrows anything but a proxystream error with one of `codes`. */
function allowOnly(error, ...codes) {
  if (error instanceof Error && codes.includes(error.code)) return;
  throw error;
}

// --- generators ----------------------------------------------------------------------------
/** Valid bytes damaged: 1–4 bytes overwritten, cut short, or extended. */
function damaged(valid) {
  return fc
    .tuple(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.constantFrom('overwrite', 'truncate', 'extend'),
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
    )
    .map(([bytes, changes, how, tail]) => {
      const copy = Uint8Array.from(bytes);
      if (how === 'truncate') return copy.subarray(0, changes[0][0] % Math.max(copy.length, 1));
      if (how === 'extend') return Uint8Array.from([...copy, ...tail]);
      for (const [position, value] of changes) copy[position % copy.length] = value;
      return copy;
    });
}

/** Random bytes behind a prefix that gets them past the first check (magic, marker). */
const prefixed = (...prefixes) =>
  fc
    .tuple(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 300 }))
    .map(([prefix, rest]) => Uint8Array.from([...prefix, ...rest]));

// --- properties ----------------------------------------------------------------------------
const results = [];

async function check(target, property, arbitrary, predicate) {
  if (args.only !== undefined && args.only !== target) return;
  const count = runs;
  let cases = 0;
  const counted = async (value) => {
    cases++;
    await predicate(value);
  };
  const started = performance.now();
  const details = await fc.check(fc.asyncProperty(arbitrary, counted), { numRuns: count, seed });
  const seconds = (performance.now() - started) / 1000;
  const ok = !details.failed;
  results.push({ target, property, cases: ok ? cases : details.numRuns, seconds, ok });
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} ${target}: ${property}: ${cases} cases in ${seconds.toFixed(1)} s`,
  );
  if (!ok) console.log(fc.defaultReportMessage(details));
}

// Event decoder: a result or DecodeError, never another error.
await check(
  'decoder',
  'arbitrary bytes, bare or behind the magic and version',
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    prefixed([0x50, 0x58, 1, 0], [0x50, 0x58, 1, 1], [0x50, 0x58]),
  ),
  (bytes) => {
    try {
      decodeBatch(bytes);
    } catch (error) {
      allowOnly(error, 'DECODE_FAILED');
    }
  },
);
await check('decoder', 'damaged valid envelopes', damaged(eventBatch.map(encodeBatch)), (bytes) => {
  try {
    const decoded = decodeBatch(bytes);
    // Whatever decodes must encode again: the decoder returned a well-formed batch.
    encodeBatch(decoded);
  } catch (error) {
    allowOnly(error, 'DECODE_FAILED');
  }
});

// Default serializer: bytes without the marker are a byte payload; with it, a value or DecodeError.
const marker = [...SERIALIZER_MARKER];
await check(
  'serializer',
  'arbitrary bytes, bare or behind the marker and version',
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    prefixed([...marker, SERIALIZER_VERSION], [...marker], [...marker, SERIALIZER_VERSION + 1]),
  ),
  (bytes) => {
    try {
      defaultSerializer.deserialize(bytes);
    } catch (error) {
      allowOnly(error, 'DECODE_FAILED');
    }
  },
);
await check(
  'serializer',
  'damaged serialized values',
  damaged(serializable.map((value) => defaultSerializer.serialize(value))),
  (bytes) => {
    try {
      defaultSerializer.deserialize(bytes);
    } catch (error) {
      allowOnly(error, 'DECODE_FAILED');
    }
  },
);

// File store keys: only keys the store could have made reach the file system.
const sandbox = await fuzzSandbox();
try {
  const store = await FileStore.create({ directory: sandbox.storeDir });
  const kept = await store.put(new TextEncoder().encode('kept'));
  await check(
    'file-store',
    'get/exists/evict with arbitrary keys',
    sandbox.storeKey(kept),
    async (candidate) => {
      const valid = HEX32.test(candidate);
      for (const operation of ['get', 'exists', 'evict']) {
        try {
          const result = await store[operation](candidate);
          if (!valid) throw new Error(`${operation}(${JSON.stringify(candidate)}) was accepted`);
          if (operation === 'get' && result !== undefined && candidate !== kept)
            throw new Error(`get(${JSON.stringify(candidate)}) returned data`);
        } catch (error) {
          if (valid) throw error;
          allowOnly(error, 'INVALID_STORE_KEY');
        }
      }
    },
  );
  if (args.only === undefined || args.only === 'file-store') {
    const problems = await sandbox.damage(kept);
    if (problems.length > 0) throw new Error(problems.join('; '));
    console.log('ok   file-store: sentinels outside the store untouched');
  }

  // File store factory: a directory from the wire opens only inside the allowed root.
  const factory = new FileStoreFactory({ allowedRoots: [sandbox.allowed] });
  await check(
    'factory',
    'FileStoreFactory.open with arbitrary configs',
    sandbox.storeConfig(),
    async (candidate) => {
      try {
        const opened = await factory.open(candidate);
        if (isOutside(sandbox.allowed, opened.directory))
          throw new Error(`opened ${opened.directory}, outside ${sandbox.allowed}`);
      } catch (error) {
        allowOnly(error, 'STORE_NOT_ALLOWED', 'STORE_FAILED');
      }
    },
  );
} finally {
  await sandbox.remove();
}

console.log(`\nseed ${seed}, node ${process.version}\n`);
console.log('| target | property | cases | time (s) | result |');
console.log('|---|---|---:|---:|---|');
for (const r of results) {
  console.log(
    `| ${r.target} | ${r.property} | ${r.cases} | ${r.seconds.toFixed(1)} | ${r.ok ? 'pass' : 'FAIL'} |`,
  );
}
if (results.some((r) => !r.ok)) process.exit(1);
