import { pause } from '@proxystream/protocols/kit';

/** JetStream's "system temporarily unavailable": a cluster electing a stream or meta leader. */
const CLUSTER_UNAVAILABLE = 10008;

/** The JetStream API error code of a client error, if it carries one. */
export function apiErrorCode(error: unknown): unknown {
  const apiError = (error as { apiError?: unknown } | null)?.apiError;
  return typeof apiError === 'function'
    ? (apiError.call(error) as { err_code?: unknown } | undefined)?.err_code
    : undefined;
}

/**
 * Errors a request may meet while a cluster (or a single server) recovers: timeouts, no
 * responders while JetStream restarts or a stream elects a leader, requests cut by a
 * disconnect, and a cluster electing a leader.
 */
export function isTransient(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return (
    name === 'TimeoutError' ||
    name === 'JetStreamNotEnabled' ||
    name === 'NoRespondersError' ||
    name === 'RequestError' ||
    apiErrorCode(error) === CLUSTER_UNAVAILABLE
  );
}

/**
 * Runs `attempt` again after transient errors ({@link isTransient}), with a backoff from 100 ms
 * to 1 s, until it succeeds, fails otherwise, or `budgetMs` ran out (the last error is thrown).
 */
export async function withRetries<T>(budgetMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let delay = 100;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(error) || Date.now() + delay > deadline) throw error;
      await pause(delay);
      delay = Math.min(delay * 2, 1_000);
    }
  }
}
