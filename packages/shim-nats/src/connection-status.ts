import type { NatsConnection, Status } from '@nats-io/transport-node';

type StatusListener = (status: Status) => void;

// One status loop per connection, shared by every subscriber on it: a caller's connection may
// carry many subscribers, and each extra `status()` iterator would be one more buffer to fill.
const listeners = new WeakMap<NatsConnection, Set<StatusListener>>();

async function watch(nc: NatsConnection, set: Set<StatusListener>): Promise<void> {
  try {
    for await (const status of nc.status()) {
      for (const listener of set) listener(status);
    }
  } catch {
    // The connection closed; nothing more to report.
  }
}

/**
 * Calls `listener` with every status event of `nc` (disconnect, reconnect, errors…) until the
 * returned function is called or the connection closes.
 */
export function watchStatus(nc: NatsConnection, listener: StatusListener): () => void {
  let set = listeners.get(nc);
  if (set === undefined) {
    set = new Set();
    listeners.set(nc, set);
    void watch(nc, set);
  }
  set.add(listener);
  return () => set.delete(listener);
}
