import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const packages = readdirSync(packagesDir);

// Tests run against the sources of sibling packages, so no build is needed between an edit and a
// test run; `pnpm build` still type-checks and emits what is published. Every entry of a
// package's `exports` map (`.`, `./kit`, `./testing`…) maps its `dist/*.js` to `src/*.ts`;
// subpaths come first so that `@proxystream/x/kit` is not taken for `@proxystream/x`.
const alias = packages
  .flatMap((name) => {
    const manifest = JSON.parse(readFileSync(`${packagesDir}${name}/package.json`, 'utf8')) as {
      exports?: Record<string, string | { default?: string }>;
    };
    return Object.entries(manifest.exports ?? {}).flatMap(([subpath, target]) => {
      const file = typeof target === 'string' ? target : target.default;
      if (file === undefined || !file.endsWith('.js')) return [];
      const source = file.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
      return [
        {
          find: `@proxystream/${name}${subpath.slice(1)}`,
          replacement: `${packagesDir}${name}/${source}`,
        },
      ];
    });
  })
  .sort((a, b) => b.find.length - a.find.length)
  .map(({ find, replacement }) => ({
    find: new RegExp(`^${find.replace(/[/.-]/g, '\\$&')}$`),
    replacement,
  }));

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
