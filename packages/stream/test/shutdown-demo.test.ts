import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The demo runs on the built packages (examples/ imports @proxystream/stream's dist); CI builds
// before testing, and this file does not build.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const demo = `${root}examples/demo.mjs`;
const dist = `${root}packages/stream/dist/index.js`;

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo, sends `signal` once it reports progress, and resolves when it exits. */
function runAndSignal(signal: NodeJS.Signals): Promise<DemoRun> {
  if (!existsSync(dist)) {
    throw new Error(
      `${dist} is missing: build the packages first (pnpm build); this test runs the built demo`,
    );
  }
  const child = spawn(
    process.execPath,
    [demo, '--count', '100000', '--size', '64KiB', '--workers', '1', '--batch', '4'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let signalled = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
    // Frames are flowing: stop it mid-run.
    if (!signalled && /progress: [1-9]\d*\/100000 frames/.test(stderr)) {
      signalled = true;
      child.kill(signal);
    }
  });
  return new Promise((resolve, reject) => {
    // Bounded: a demo that does not stop on the signal fails the test instead of hanging it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not exit within 60 s of starting; stderr:\n${stderr}`));
    }, 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the demo on a signal', () => {
  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`flushes what was sent, prints its summary and exits ${status} on ${signal}`, async () => {
      const run = await runAndSignal(signal);
      expect(run.stderr).toContain(`${signal}: finishing the frames already sent`);
      expect(run.stdout).toContain('proxystream demo: summary');
      expect(run.stdout).toContain(`stopped by        ${signal}`);
      const frames =
        /(\d+) produced, (\d+) dispatched, (\d+) dropped as blurry \(evicted\), (\d+) verified by workers, (\d+) failed/.exec(
          run.stdout,
        );
      expect(frames).not.toBeNull();
      const [produced, dispatched, dropped, verified, failed] = frames!.slice(1).map(Number);
      // Stopped mid-run, and every frame produced before the stop was handled: none is left behind.
      expect(produced).toBeGreaterThan(0);
      expect(produced).toBeLessThan(100_000);
      expect(dispatched! + dropped!).toBe(produced);
      expect(verified).toBe(dispatched);
      expect(failed).toBe(0);
      expect(run.stdout).toMatch(/store afterwards {2}0 file\(s\) left/);
      expect(run.code).toBe(status);
    });
  }
});

describe('the demo on the shared-memory store', () => {
  it('--store shared verifies every frame, copies nothing at resolve and leaves no slot taken', async () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build the packages first`);
    const child = spawn(
      process.execPath,
      [demo, '--store', 'shared', '--count', '60', '--size', '1MiB', '--workers', '2'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const frames =
      /(\d+) produced, (\d+) dispatched, (\d+) dropped as blurry \(evicted\), (\d+) verified by workers, (\d+) failed/.exec(
        stdout,
      );
    expect(frames?.slice(1).map(Number)).toEqual([60, 54, 6, 54, 0]);
    expect(stdout).toMatch(
      /bytes copied {6}1\.00 MiB per frame: 1\.00 MiB at put \(into the store\), 0 B at resolve/,
    );
    expect(stdout).toMatch(/store afterwards {2}0 slot\(s\) in use/);
  }, 60_000);
});
