import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const packages = readdirSync(packagesDir);

// Tests run against the sources of sibling packages, so no build is needed between an edit and a
// test run; `pnpm build` still type-checks and emits what is published.
const alias = Object.fromEntries(
  packages.map((name) => [`@proxystream/${name}`, `${packagesDir}${name}/src/index.ts`]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: packages.map((name) => ({
      extends: true,
      test: {
        name,
        root: `${packagesDir}${name}`,
        include: ['test/**/*.test.ts'],
        // A shim's fault cases restart its broker: the shim's other files must not run meanwhile.
        ...(name.startsWith('shim-')
          ? { fileParallelism: false, poolOptions: { forks: { singleFork: true } } }
          : {}),
      },
    })),
  },
});
