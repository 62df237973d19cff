/** Types of shutdown.mjs, for the TypeScript suites that import it. */
import type { StreamModule } from './scenarios.mjs';
import type { ShimAdapter } from './shims.mjs';

/** Active handles other than timers (sockets, pipes, file handles…). */
export function activeHandleCount(): number;
/** Resolves `undefined` once the handle count is back to `baseline`, else the resources left after `ms`. */
export function handlesBackTo(baseline: number, ms?: number): Promise<string[] | undefined>;

export function closeDuringBurst(options: {
  shim: ShimAdapter;
  stream: StreamModule;
  burst?: number;
  boundMs?: number;
}): Promise<{
  resolved: number;
  refusals: Record<string, number>;
  received: number;
  producerCloseMs: number;
  consumerCloseMs: number;
}>;

export function closeDuringBlockedNext(options: {
  shim: ShimAdapter;
  stream: StreamModule;
  boundMs?: number;
}): Promise<{ result: IteratorResult<unknown>; closeMs: number }>;
