// A worker of the dispatcher demo: revives references, resolves them (the only place the frame
// bytes are read), checks each frame's SHA-256 against the producer's metadata.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import {
  FileStoreFactory,
  ProxyReference,
  releaseSharedMemory,
  SharedMemoryStoreFactory,
  StoreCache,
} from '@proxystream/stream';

// Only the demo's own store may be opened from a reference: directories under its root, or the
// shared-memory pool whose handle came in workerData.
const { store } = workerData;
const stores = new StoreCache([
  store.kind === 'shared'
    ? new SharedMemoryStoreFactory({ pools: [store.pool] })
    : new FileStoreFactory({ allowedRoots: store.allowedRoots }),
]);

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
    // A view of the shared pool was not copied; a file store's read copied the frame.
    const copied = frame.buffer instanceof SharedArrayBuffer ? 0 : frame.byteLength;
    // Done with the frame: its evicted slot may take the next one now, without waiting for GC.
    releaseSharedMemory(frame);
    parentPort.postMessage({
      id: task.id,
      ok: sha256 === task.sha256,
      bytes: frame.byteLength,
      copied,
      ms: performance.now() - started,
    });
  } catch (error) {
    parentPort.postMessage({
      id: task.id,
      ok: false,
      bytes: 0,
      copied: 0,
      error: `${error.code ?? error.name}: ${error.message}`,
    });
  }
});
