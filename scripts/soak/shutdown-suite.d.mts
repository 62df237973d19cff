/** Types of shutdown-suite.mjs, for the TypeScript test files that call it. */
import type { StreamModule } from './scenarios.mjs';

/** Registers the shutdown cases for the shim adapters `names`, built from the shim `modules`. */
export function shutdownSuite(options: {
  stream: StreamModule;
  modules: { redis?: unknown; nats?: unknown; kafka?: unknown };
  names: readonly string[];
}): void;
