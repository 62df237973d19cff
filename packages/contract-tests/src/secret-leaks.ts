import { inspect } from 'node:util';
import { expect, vi } from 'vitest';

/**
 * Every rendering of `value` a log line or a report could hold: `String`, `util.inspect` (8 levels
 * deep), JSON when it serialises, and the message and stack of each error of its cause chain.
 * Search it for a secret that must not leak.
 */
export function renderings(value: unknown): string {
  const parts = [String(value), inspect(value, { depth: 8 })];
  try {
    parts.push(JSON.stringify(value));
  } catch {
    // Circular: inspect covers it.
  }
  for (let error = value; error instanceof Error; error = error.cause) {
    parts.push(error.message, error.stack ?? '');
  }
  return parts.join('\n');
}

/**
 * Captures (and silences) what the code under test writes to stdout, stderr and the console from
 * now on; the returned function stops capturing and returns it all.
 */
export function captureOutput(): () => string {
  const written: string[] = [];
  const record = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  const spies = [
    vi.spyOn(process.stderr, 'write').mockImplementation(record),
    vi.spyOn(process.stdout, 'write').mockImplementation(record),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args) => void written.push(args.join(' '))),
    ),
  ];
  return () => {
    for (const spy of spies) spy.mockRestore();
    return written.join('\n');
  };
}

/** Options of {@link expectRefusedWithoutLeaks}. */
export interface RefusalExpectations {
  /** The class every outcome must be an instance of (`BrokerError`, `StoreError`, …). */
  error: abstract new (
    ...args: never[]
  ) => Error;
  /** What every outcome's message must contain (a string) or match (a pattern). */
  reason: string | RegExp;
  /** Strings no rendering of an outcome may contain. */
  secrets: readonly string[];
  /** Strings nothing written to stdout, stderr or the console may contain. Default `secrets`. */
  notLogged?: readonly string[];
}

/**
 * Runs `attempts` with the output captured, then expects each outcome it resolves with (the
 * caller turns rejections into values, e.g. `.catch((e: unknown) => e)`) to be an
 * `expected.error` whose message gives the reason, with no secret in any of its
 * {@link renderings}, and nothing written meanwhile to hold one either.
 *
 * @example
 * ```ts
 * await expectRefusedWithoutLeaks(
 *   async () => [await connect({ password: WRONG }).catch((e: unknown) => e)],
 *   { error: BrokerError, reason: 'WRONGPASS', secrets: [WRONG] },
 * );
 * ```
 */
export async function expectRefusedWithoutLeaks(
  attempts: () => Promise<readonly unknown[]>,
  expected: RefusalExpectations,
): Promise<void> {
  const output = captureOutput();
  let logged = '';
  try {
    const outcomes = await attempts();
    expect(outcomes.length).toBeGreaterThan(0);
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(expected.error);
      expect((outcome as Error).message).toMatch(expected.reason);
      const rendered = renderings(outcome);
      for (const secret of expected.secrets) expect(rendered).not.toContain(secret);
    }
  } finally {
    logged = output();
  }
  for (const secret of expected.notLogged ?? expected.secrets) expect(logged).not.toContain(secret);
}
