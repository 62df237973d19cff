import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/** The workspace packages, each a vitest project. */
export const packages: readonly string[] = readdirSync(packagesDir);

/** Where a package's sources are. */
export const packageRoot = (name: string): string => `${packagesDir}${name}`;

/** Tests that need the broker clusters of `scripts/clusters.sh` (run by vitest.cluster.config.ts). */
export const clusterTests = 'test/cluster/**/*.test.ts';

// Tests run against the sources of sibling packages, so no build is needed between an edit and a
// test run; `pnpm build` still type-checks and emits what is published. Every entry of a
// package's `exports` map (`.`, `./kit`, `./testing`…) maps its `dist/*.js` to `src/*.ts`;
// subpaths come first so that `@proxystream/x/kit` is not taken for `@proxystream/x`.
export const alias = packages
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
