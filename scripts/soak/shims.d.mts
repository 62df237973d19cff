/** Types of shims.mjs, for the TypeScript suites that import it. */

/** One shim as the scenarios drive it. */
export interface ShimAdapter {
  readonly name: string;
  readonly broker: 'redis' | 'nats' | 'kafka';
  readonly persistent: boolean;
  readonly acknowledged: boolean;
  prepare(): Promise<unknown>;
  publisher(): Promise<unknown>;
  subscriber(topic: string, options?: { group?: string; fast?: boolean }): Promise<unknown>;
  cleanup(topic: string): Promise<void>;
}

export const REDIS_URL: string;
export const NATS_URL: string;
export const KAFKA_BROKERS: string[];
export const FAULTS_STREAM: { stream: string; subjectPrefix: string };

/** Restarts one local broker keeping its data (`bash scripts/brokers.sh restart <broker>`). */
export function restartBroker(broker: 'redis' | 'nats' | 'kafka'): Promise<void>;
/** A topic name no other run uses. */
export function uniqueTopic(prefix: string): string;
/** The adapters of the shim modules given (`@proxystream/shim-*` namespaces). */
export function shimAdapters(modules: {
  redis?: unknown;
  nats?: unknown;
  kafka?: unknown;
}): Record<string, ShimAdapter>;
