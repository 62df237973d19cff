// A worker of the dispatcher demo: revives references, resolves them (the only place the frame
// bytes are read), checks each frame's SHA-256 against the producer's metadata. It opens the
// store itself, from the serialisable settings in workerData; with --store memory the dispatcher
// resolves in its own thread through verifyFrame instead (a memory store is one thread's).
import { createHash } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ProxyReference, releaseSharedMemory, StoreCache } from '@proxystream/stream';
import { storeFactories } from './demo-transports.mjs';

/**
 * Resolves `task.reference` through `stores` and compares the bytes' SHA-256 with `task.sha256`;
 * reports `{ id, ok, bytes, copied, error? }`.
 */
export async function verifyFrame(task, stores) {
  try {
    const frame = await ProxyReference.fromJSON(task.reference, { stores }).resolve();
    const sha256 = createHash('sha256').update(frame).digest('hex');
    // A view of the shared pool was not copied; every other store's read copied the frame.
    const copied = frame.buffer instanceof SharedArrayBuffer ? 0 : frame.byteLength;
    // Done with the frame: its evicted slot may take the next one now, without waiting for GC.
    releaseSharedMemory(frame);
    return { id: task.id, ok: sha256 === task.sha256, bytes: frame.byteLength, copied };
  } catch (error) {
    return {
      id: task.id,
      ok: false,
      bytes: 0,
      copied: 0,
      error: `${error.code ?? error.name}: ${error.message}`,
    };
  }
}

if (!isMainThread && workerData?.demo === 'worker') {
  // Only the demo's own store may be opened from a reference (the factories are allow-listed).
  const stores = new StoreCache(await storeFactories(workerData.store));
  parentPort.on('message', async (task) => {
    if (task.type === 'close') {
      await stores.close();
      parentPort.close();
      return;
    }
    parentPort.postMessage(await verifyFrame(task, stores));
  });
}
