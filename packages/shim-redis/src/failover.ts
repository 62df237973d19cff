import { pause } from '@proxystream/protocols/kit';

/**
 * Default of the `retryForMs` options: how long, in ms, a shim on a Redis Cluster goes on
 * retrying a command that failed because the cluster is failing over, before the error reaches
 * the caller. A replica takes over a dead master after `cluster-node-timeout` (15 s by default in
 * redis.conf) plus an election; 30 s covers the default with room to spare.
 */
export const DEFAULT_FAILOVER_BUDGET_MS = 30_000;

// Replies of a cluster in the middle of a failover or a slot migration: the command can succeed
// once the cluster settles (ioredis follows MOVED/ASK itself, but only 16 times, 100 ms apart).
const FAILOVER_REPLY = /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|LOADING)\b/;

// Errors of ioredis (not server replies) while a node is gone or the slot map is being refreshed.
const FAILOVER_FAILURE =
  /Too many Cluster redirections|Connection is closed|None of startup nodes is available|Failed to refresh slots cache|Cluster isn't ready|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|socket closed/i;

/**
 * Whether `error` is what a Redis Cluster answers while it fails over (a master died and a
 * replica is taking its slots, or slots move): worth retrying rather than reporting. A reply that
 * can never succeed (wrong type, syntax) or a client closed on purpose (`Cluster is ended`) is not.
 */
export function isFailoverError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const message = error.message;
  if (error.name === 'ReplyError') return FAILOVER_REPLY.test(message);
  if (/ended/i.test(message) && error.name === 'AbortError') return false;
  return FAILOVER_FAILURE.test(message) || FAILOVER_REPLY.test(message);
}

/**
 * Runs `operation` until it succeeds, retrying it while it fails with a failover error
 * ({@link isFailoverError}) and `budgetMs` has not passed since the first attempt, with a backoff
 * from 50 ms to 500 ms. Any other error, or a failover error after the budget, is thrown as is.
 * A command retried this way may have run once already (its reply was lost with the node): the
 * persistent shims' consumers skip such duplicates by sequence number.
 */
export async function retryAcrossFailover<T>(
  operation: () => Promise<T>,
  budgetMs: number,
): Promise<T> {
  const deadline = performance.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const left = deadline - performance.now();
      if (left <= 0 || !isFailoverError(error)) throw error;
      await pause(Math.min(25 * 2 ** attempt, 500, left));
    }
  }
}
