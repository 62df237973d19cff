import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ShimDescriptor } from '@proxystream/protocols/kit';

/** A shim package's exports, or why it cannot be loaded. */
export type ShimModule =
  | { readonly exports: Record<string, unknown> }
  | { readonly reason: string };

const cache = new Map<string, Promise<ShimModule>>();
const require = createRequire(import.meta.url);

/**
 * Imports a shim package by name at run time, so that the bench compiles and runs while a shim
 * is not built yet; a shim that cannot load becomes a "not available" line in the report.
 */
export function loadShim(name: string): Promise<ShimModule> {
  let loaded = cache.get(name);
  if (loaded === undefined) {
    loaded = (async (): Promise<ShimModule> => {
      let manifest: string;
      try {
        manifest = require.resolve(`${name}/package.json`);
      } catch {
        return { reason: `${name} is not installed` };
      }
      if (!existsSync(join(dirname(manifest), 'dist', 'index.js'))) {
        return { reason: `${name} has no build (dist/index.js missing)` };
      }
      try {
        const specifier: string = name;
        const module = (await import(specifier)) as Record<string, unknown>;
        return { exports: module };
      } catch (error) {
        return { reason: `${name} fails to load: ${(error as Error).message.split('\n')[0]}` };
      }
    })();
    cache.set(name, loaded);
  }
  return loaded;
}

/** A class exported by a shim, by its name. */
export type Constructor = new (...args: unknown[]) => unknown;

/** The export `name` of `module` if it is a class (function), else undefined. */
export function exported(module: ShimModule, name: string): Constructor | undefined {
  if (!('exports' in module)) return undefined;
  const value = module.exports[name];
  return typeof value === 'function' ? (value as Constructor) : undefined;
}

/**
 * The shim descriptors of one package (on single brokers, and on clusters where its `./testing`
 * entry exports `clusterDescriptors`; none otherwise), or why they cannot be loaded.
 */
export type DescriptorPackage =
  | {
      readonly packageName: string;
      readonly descriptors: readonly ShimDescriptor[];
      readonly clusterDescriptors: readonly ShimDescriptor[];
    }
  | { readonly packageName: string; readonly reason: string };

let descriptorPackages: Promise<DescriptorPackage[]> | undefined;

/**
 * The descriptors of every shim package the bench depends on (`@proxystream/shim-*` and the
 * worker-threads shim of `@proxystream/stream`, in bench/package.json), imported from their built `./testing` entries at run time like
 * {@link loadShim}: a package that cannot load becomes "not available" lines in the report.
 */
export function loadDescriptors(): Promise<DescriptorPackage[]> {
  descriptorPackages ??= (async () => {
    const manifest = JSON.parse(readFileSync(require.resolve('../package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    // The shim packages, and stream for its worker-threads shim (its in-process broker has
    // transports of its own).
    const names = Object.keys(manifest.dependencies ?? {}).filter(
      (name) => name.startsWith('@proxystream/shim-') || name === '@proxystream/stream',
    );
    return Promise.all(
      names.map(async (packageName): Promise<DescriptorPackage> => {
        const loaded = await loadShim(packageName);
        if ('reason' in loaded) return { packageName, reason: loaded.reason };
        try {
          const specifier = `${packageName}/testing`;
          const testing = (await import(specifier)) as {
            descriptors?: readonly ShimDescriptor[];
            clusterDescriptors?: readonly ShimDescriptor[];
          };
          if (!Array.isArray(testing.descriptors)) {
            return { packageName, reason: `${specifier} exports no descriptors` };
          }
          const clusterDescriptors = Array.isArray(testing.clusterDescriptors)
            ? testing.clusterDescriptors
            : [];
          return { packageName, descriptors: testing.descriptors, clusterDescriptors };
        } catch (error) {
          const reason = (error as Error).message.split('\n')[0] ?? String(error);
          return { packageName, reason: `${packageName}/testing fails to load: ${reason}` };
        }
      }),
    );
  })();
  return descriptorPackages;
}
