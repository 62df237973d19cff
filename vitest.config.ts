import { defineConfig } from 'vitest/config';
import { alias, clusterTests, packageRoot, packages } from './vitest.shared.js';

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
        root: packageRoot(name),
        include: ['test/**/*.test.ts'],
        // The cluster tests start no cluster: scripts/test.sh runs them with vitest.cluster.config.ts.
        exclude: [clusterTests],
        // A shim's fault cases restart its broker: the shim's other files must not run meanwhile.
        ...(name.startsWith('shim-')
          ? { fileParallelism: false, poolOptions: { forks: { singleFork: true } } }
          : {}),
      },
    })),
  },
});
