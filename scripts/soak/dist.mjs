// Loads the built packages (packages/*/dist) for the soak runner and the consumer child, with a
// clear message when they were not built.

import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = fileURLToPath(new URL('../../packages/', import.meta.url));

/** The built module of package `name` (`stream`, `shim-redis`, …). */
export async function loadDist(name) {
  const entry = `${packages}${name}/dist/index.js`;
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: build the packages first (pnpm build)`);
  }
  return import(pathToFileURL(entry).href);
}

/** The shim modules by the names `shimAdapters` takes. */
export async function loadShimModules(which = ['redis', 'nats', 'kafka']) {
  const modules = {};
  for (const name of which) modules[name] = await loadDist(`shim-${name}`);
  return modules;
}
