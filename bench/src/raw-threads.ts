import type { Contender } from './pipe.js';
import { rawMessageChannel } from './raw-inproc.js';

/**
 * The raw contender of the worker-threads shim (descriptor `threads`): Node's `MessagePort` pair,
 * in one thread as the bench runs every shim, each message one structured clone. The shim adds a
 * hop through its `ThreadsBroker` (publisher port → broker → subscriber port), credits and
 * acknowledgements; the difference is its price. The address is unused: no broker process.
 */
export function rawThreads(_address?: string): Contender {
  return { ...rawMessageChannel, name: 'raw MessagePort' };
}
