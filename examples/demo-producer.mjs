// The producer thread of the dispatcher demo: makes synthetic frames, puts their bytes in the
// store (a file store, or the shared-memory pool the main thread made) and sends ~200-byte events through a publisher. Running it in its own thread keeps
// the dispatcher's memory figures its own.
import { createHash, randomFillSync } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { FileStore, SharedMemoryStore, StreamProducer } from '@proxystream/stream';

const { topic, count, size, batch, blurryEvery, store } = workerData;
const totals = { produced: 0, storeBytes: 0, peakArrayBuffers: 0, peakHeap: 0 };
let stopRequested = false;

/**
 * A publisher whose broker lives in the main thread: each envelope crosses over the port and
 * `send` resolves when the main thread's publisher accepted it, so backpressure crosses too.
 * (With a network broker, this thread would open its own publisher instead.)
 */
function portPublisher(port) {
  const pending = new Map();
  let nextId = 0;
  port.on('message', (message) => {
    if (message.type === 'stop') stopRequested = true;
    if (message.type !== 'ack') return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error));
    else waiter?.resolve();
  });
  return {
    send(topicName, envelope) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        port.postMessage({ type: 'send', id, topic: topicName, envelope });
      });
    },
    async close() {},
  };
}

/** Counts the bytes put into the store. */
function countingStore(inner) {
  return {
    kind: inner.kind,
    put(data) {
      totals.storeBytes += data.byteLength;
      return inner.put(data);
    },
    putBatch(data) {
      for (const item of data) totals.storeBytes += item.byteLength;
      return inner.putBatch(data);
    },
    get: (key) => inner.get(key),
    exists: (key) => inner.exists(key),
    evict: (key) => inner.evict(key),
    config: () => inner.config(),
    close: () => inner.close(),
  };
}

function sampleMemory() {
  const usage = process.memoryUsage();
  totals.peakArrayBuffers = Math.max(totals.peakArrayBuffers, usage.arrayBuffers);
  totals.peakHeap = Math.max(totals.peakHeap, usage.heapUsed);
}

const producer = new StreamProducer(portPublisher(parentPort), {
  // The shared store copies each frame into a slot of the pool once; a resolve reads it there.
  defaultStore: countingStore(
    store.kind === 'shared'
      ? await SharedMemoryStore.create({ pool: store.pool })
      : await FileStore.create({ directory: store.directory }),
  ),
  batchSize: batch,
});

// One random base frame; each frame is a copy with its own header, so frames differ and making
// them costs a memcpy rather than a random generator.
const base = randomFillSync(Buffer.allocUnsafe(size));
try {
  for (let i = 0; i < count && !stopRequested; i++) {
    const frame = Buffer.allocUnsafe(size);
    base.copy(frame);
    frame.writeUInt32BE(i, 0);
    randomFillSync(frame, 4, Math.min(60, size - 4));
    const blurry = blurryEvery > 0 && i % blurryEvery === blurryEvery - 1;
    await producer.send(topic, frame, {
      metadata: {
        frame: i,
        camera: i % 2 === 0 ? 'left' : 'right',
        quality: blurry ? 'blurry' : 'sharp',
        bytes: frame.byteLength,
        sha256: createHash('sha256').update(frame).digest('hex'),
      },
    });
    totals.produced++;
    sampleMemory();
  }
  // The partial batch, then the end of stream: the dispatcher ends once it has seen everything.
  await producer.close({ topics: [topic] });
  parentPort.postMessage({ type: 'done', totals });
} catch (error) {
  parentPort.postMessage({ type: 'done', totals, error: error.stack ?? String(error) });
}
