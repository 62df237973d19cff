// A worker of the dispatcher demo: revives references, resolves them (the only place the frame
// bytes are read), checks each frame's SHA-256 against the producer's metadata.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { FileStoreFactory, ProxyReference, StoreCache } from '@proxystream/stream';

// Only directories under the demo's store root may be opened from a reference.
const stores = new StoreCache([new FileStoreFactory({ allowedRoots: workerData.allowedRoots })]);

parentPort.on('message', async (task) => {
  if (task.type === 'close') {
    await stores.close();
    parentPort.close();
    return;
  }
  const started = performance.now();
  try {
    const frame = await ProxyReference.fromJSON(task.reference, { stores }).resolve();
    const sha256 = createHash('sha256').update(frame).digest('hex');
    parentPort.postMessage({
      id: task.id,
      ok: sha256 === task.sha256,
      bytes: frame.byteLength,
      ms: performance.now() - started,
    });
  } catch (error) {
    parentPort.postMessage({
      id: task.id,
      ok: false,
      bytes: 0,
      error: `${error.code ?? error.name}: ${error.message}`,
    });
  }
});
