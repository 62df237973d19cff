import type { RetryOptions } from 'kafkajs';

/** Default of the publisher's `retryForMs`: how long a send rides out a leader election, in ms. */
export const DEFAULT_RETRY_FOR_MS = 30_000;

const INITIAL_RETRY_MS = 100;
const MAX_RETRY_MS = 1_000;

/**
 * kafkajs retry settings that go on retrying a failed produce request for about `retryForMs`
 * (backoff 100 ms doubling to 1 s) instead of kafkajs's 5 retries (about 7–10 s), which a leader
 * election on a cluster outlasts. kafkajs's retrier counts attempts, not time, so the budget is
 * turned into the number of backoffs that fit in it. The producer stays idempotent: a retried
 * request carries the same sequence numbers and the broker drops what it already has.
 */
export function sendRetry(retryForMs: number): RetryOptions {
  let retries = 0;
  let waited = 0;
  for (let delay = INITIAL_RETRY_MS; waited < retryForMs; retries++) {
    waited += delay;
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
  return {
    initialRetryTime: INITIAL_RETRY_MS,
    maxRetryTime: MAX_RETRY_MS,
    multiplier: 2,
    factor: 0.2,
    retries: Math.max(retries, 1),
  };
}
