import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

const packagesDir = new URL('../../', import.meta.url);

async function transpileDirectory(source: URL, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const name = entry.name;
    // Subfolders too: protocols keeps its shim kit in src/kit/.
    if (entry.isDirectory()) {
      await transpileDirectory(new URL(`${name}/`, source), join(target, name));
      continue;
    }
    if (!name.endsWith('.ts')) continue;
    const text = await readFile(new URL(name, source), 'utf8');
    const { outputText } = ts.transpileModule(text, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
      fileName: name,
    });
    await writeFile(join(target, name.replace(/\.ts$/, '.js')), outputText);
  }
}

/**
 * Transpiles the sources of `@proxystream/protocols` and `@proxystream/stream` (types stripped,
 * no type check) into a temporary directory that plain Node — a `worker_threads` worker — can
 * import: `<dir>/stream/index.js`. Tests then run the current sources, not a stale build.
 */
export async function buildForWorkers(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'proxystream-worker-build-'));
  const protocols = join(dir, 'node_modules', '@proxystream', 'protocols');
  await transpileDirectory(new URL('protocols/src/', packagesDir), protocols);
  await writeFile(
    join(protocols, 'package.json'),
    JSON.stringify({
      name: '@proxystream/protocols',
      type: 'module',
      exports: { '.': './index.js', './kit': './kit/index.js' },
    }),
  );
  await transpileDirectory(new URL('stream/src/', packagesDir), join(dir, 'stream'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  return dir;
}
