import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every ```ts block of the READMEs is type-checked as a user's project would check it: against the
// packages as published (package.json `exports`, so the built `dist/*.d.ts`), with the strictest
// options a user may have. A block preceded by `<!-- not-compiled: reason -->` is skipped.

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const packagesDir = join(repo, 'packages');
const packageNames = readdirSync(packagesDir).filter((name) =>
  existsSync(join(packagesDir, name, 'package.json')),
);

const compilerOptions = {
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false,
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  target: 'ES2022',
  noEmit: true,
  types: ['node'],
};

interface Example {
  /** README path relative to the repository, with the line of the opening fence. */
  readonly where: string;
  readonly readme: string;
  /** 1-based README line of the first line of code. */
  readonly firstLine: number;
  readonly code: string;
}

const SKIP = /^<!--\s*not-compiled:\s*\S.*-->$/;

/** The ```ts blocks of one markdown file, minus those marked not-compiled. */
function extractExamples(readme: string, text: string): Example[] {
  const lines = text.split('\n');
  const examples: Example[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[index] ?? '')) continue;
    const fence = index;
    let end = index + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    let before = fence - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--;
    if (!SKIP.test((lines[before] ?? '').trim())) {
      examples.push({
        where: `${readme}:${fence + 1}`,
        readme,
        firstLine: fence + 2,
        code: lines.slice(fence + 1, end).join('\n'),
      });
    }
    index = end;
  }
  return examples;
}

function readmes(): string[] {
  return [
    'README.md',
    ...packageNames
      .map((name) => `packages/${name}/README.md`)
      .filter((path) => existsSync(join(repo, path))),
  ];
}

/**
 * Errors in third-party declarations that strict options expose and that no proxystream change
 * can fix. `@nats-io/nats-core` 3.x: `MsgImpl` and `NatsConnectionImpl` declare getters returning
 * `T | undefined` for optional properties of the interfaces they implement (TS2420 under
 * `exactOptionalPropertyTypes` with `skipLibCheck: false`).
 */
const KNOWN_THIRD_PARTY = [/node_modules\/@nats-io\/nats-core\/lib\/[^/]+\.d\.ts$/];

interface TscError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message, with its continuation lines. */
  readonly text: string;
}

function tscErrors(output: string): TscError[] {
  const errors: { file: string; line: number; column: number; text: string }[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const match = /^(.+)\((\d+),(\d+)\): (.*)$/.exec(line);
    const last = errors.at(-1);
    if (match !== null) {
      errors.push({
        file: (match[1] ?? '').replaceAll('\\', '/'),
        line: Number(match[2]),
        column: Number(match[3]),
        text: match[4] ?? '',
      });
    } else if (last !== undefined && /^\s/.test(line)) {
      last.text += `\n${line}`;
    } else {
      errors.push({ file: '(tsc)', line: 0, column: 0, text: line });
    }
  }
  return errors;
}

function tsc(project: string): Promise<{ code: number; output: string }> {
  const require = createRequire(join(repo, 'package.json'));
  const bin = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, '-p', 'tsconfig.json', '--pretty', 'false'],
      { cwd: project, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** `line` without its strings and its `//` comment. */
function codeOf(line: string): string {
  return line.replace(/(['"`]).*?\1/g, '""').replace(/\/\/.*$/, '');
}

describe('README examples', () => {
  let project: string;
  const examples = readmes().flatMap((readme) =>
    extractExamples(readme, readFileSync(join(repo, readme), 'utf8')),
  );
  const files = new Map<string, Example>();

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'proxystream-readme-examples-'));
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }),
    );
    // What `npm install @proxystream/...` gives: each package's package.json (and so its
    // `exports` into dist), its own dependencies beside it.
    await mkdir(join(project, 'node_modules', '@proxystream'), { recursive: true });
    await mkdir(join(project, 'node_modules', '@types'), { recursive: true });
    for (const name of packageNames) {
      await symlink(
        join(packagesDir, name),
        join(project, 'node_modules', '@proxystream', name),
        'dir',
      );
    }
    // npm hoists a package's dependencies beside it, so an example may import a shim's client
    // (`@nats-io/transport-node`, `ioredis`, `kafkajs`) as a user's project can.
    const linked = new Set<string>();
    for (const name of packageNames) {
      const manifest = JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'));
      for (const dependency of Object.keys(manifest.dependencies ?? {})) {
        if (dependency.startsWith('@proxystream/') || linked.has(dependency)) continue;
        const source = join(packagesDir, name, 'node_modules', dependency);
        if (!existsSync(source)) continue;
        linked.add(dependency);
        const target = join(project, 'node_modules', dependency);
        await mkdir(join(target, '..'), { recursive: true });
        await symlink(source, target, 'dir');
      }
    }
    await symlink(
      join(repo, 'node_modules', '@types', 'node'),
      join(project, 'node_modules', '@types', 'node'),
      'dir',
    );
    for (const [index, example] of examples.entries()) {
      const file = `example-${index + 1}.ts`;
      files.set(file, example);
      // `export {}` makes a block without imports a module too, so top-level await is allowed.
      await writeFile(join(project, file), `${example.code}\nexport {};\n`);
    }
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions, files: [...files.keys()] }, null, 2),
    );
  });

  afterAll(async () => {
    if (project !== undefined) await rm(project, { recursive: true, force: true });
  });

  it('finds the examples of every package README, and skips only blocks marked not-compiled', () => {
    const documented = new Set(examples.map((example) => example.readme));
    for (const name of ['stream', 'shim-redis', 'shim-nats', 'shim-kafka', 'protocols']) {
      expect(documented, name).toContain(`packages/${name}/README.md`);
    }
    expect(
      extractExamples('x.md', '<!-- not-compiled: fragment -->\n\n```ts\nnope(\n```\n'),
    ).toEqual([]);
    expect(extractExamples('x.md', 'text\n```ts\nconst a = 1;\n```\n')).toEqual([
      { where: 'x.md:2', readme: 'x.md', firstLine: 3, code: 'const a = 1;' },
    ]);
  });

  it('need no type assertions: every item and value is typed by the API itself', () => {
    // `x as T` (other than `as const`) and `<T>x` would hide a type the API fails to give.
    const casts = examples.flatMap((example) =>
      example.code
        .split('\n')
        .flatMap((line, index) =>
          /\bas (?!const\b)[A-Za-z_{[(]/.test(codeOf(line)) ||
          /(^|[=(,:]\s*)<[A-Z][A-Za-z]*>\s*[A-Za-z_(]/.test(line)
            ? [`${example.readme}:${example.firstLine + index}: ${line.trim()}`]
            : [],
        ),
    );
    expect(casts).toEqual([]);
  });

  it('compile under strict and exactOptionalPropertyTypes against the built declarations, library files included', async () => {
    for (const name of packageNames) {
      const manifest = JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'));
      const types = manifest.exports?.['.']?.types as string | undefined;
      if (types !== undefined && !existsSync(join(packagesDir, name, types))) {
        throw new Error(`packages/${name}/${types} is missing: run \`pnpm build\` first`);
      }
    }
    const { code, output } = await tsc(project);
    const errors = tscErrors(output);
    // Point each error in an example at its README line; others keep tsc's path.
    const ours = errors
      .filter((error) => !KNOWN_THIRD_PARTY.some((pattern) => pattern.test(error.file)))
      .map((error) => {
        const example = files.get(error.file);
        const where =
          example === undefined
            ? `${error.file}(${error.line},${error.column})`
            : `${example.readme}:${example.firstLine + error.line - 1}:${error.column}`;
        return `${where} ${error.text}`;
      });
    expect(
      ours,
      `tsc exited with ${code}; declarations are read from packages/*/dist: rebuild after editing sources`,
    ).toEqual([]);
    if (errors.length === 0) expect(code).toBe(0);
  });
});
