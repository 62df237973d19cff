import { defineConfig } from 'vitest/config';
import { alias, clusterTests, packageRoot, packages } from './vitest.shared.js';

// The cluster tests (`packages/*/test/cluster/`): each needs the clusters `scripts/clusters.sh`
// starts, and their failover cases kill nodes, so the files run one at a time in one process.
//   bash scripts/clusters.sh start && pnpm exec vitest run --config vitest.cluster.config.ts
export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    poolOptions: { forks: { singleFork: true } },
    passWithNoTests: false,
    projects: packages.map((name) => ({
      extends: true,
      test: { name, root: packageRoot(name), include: [clusterTests] },
    })),
  },
});
