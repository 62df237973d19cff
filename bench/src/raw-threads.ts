import type { Contender } from './pipe.js';
import { rawMessageChannel } from './raw-inproc.js';

/**
 * The raw contender of the worker-threads shim (descriptor `threads`): Node's `MessagePort` pair,
 * in one thread as the bench runs every shim, each message one structured clone. The shim routes
 * each message through its `ThreadsBroker` (in this thread, so the publisher hands it to the
 * broker by call and the broker posts it to the subscriber's port), with credits and
 * acknowledgements; the difference is its price. The address is unused: no broker process.
 */
export function rawThreads(_address?: string): Contender {
  return { ...rawMessageChannel, name: 'raw MessagePort' };
}
