// Loads the built packages (packages/*/dist) for the soak runner, with a clear message when they
// were not built, and the shims' descriptors from every package that exports `./testing`.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = fileURLToPath(new URL('../../packages/', import.meta.url));

/** The path of a built file of package `name` (`stream`, `shim-redis`, …). */
export function distPath(name, file = 'index.js') {
  const entry = `${packages}${name}/dist/${file}`;
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: build the packages first (pnpm build)`);
  }
  return entry;
}

/** The built module of package `name`. */
export async function loadDist(name, file = 'index.js') {
  return import(pathToFileURL(distPath(name, file)).href);
}

/**
 * Every shim descriptor of the workspace, from the built `./testing` entry of each package that
 * exports one, with the path of that entry (what the kill scenario's consumer process loads).
 * @returns {Promise<Array<{ descriptor: import('@proxystream/protocols/kit').ShimDescriptor, testing: string }>>}
 */
export async function loadDescriptors() {
  const found = [];
  for (const name of readdirSync(packages).sort()) {
    const manifest = `${packages}${name}/package.json`;
    if (!existsSync(manifest)) continue;
    const exports = JSON.parse(readFileSync(manifest, 'utf8')).exports ?? {};
    if (exports['./testing'] === undefined) continue;
    const testing = distPath(name, 'testing.js');
    const module = await import(pathToFileURL(testing).href);
    for (const descriptor of module.descriptors ?? []) found.push({ descriptor, testing });
  }
  return found;
}
