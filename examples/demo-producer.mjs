// The producer of the dispatcher demo: makes synthetic frames, puts their bytes in the store and
// sends ~200-byte events through a publisher. It runs in a thread of its own (so that the
// dispatcher's memory figures are its own), in the dispatcher's thread with --store memory (a
// memory store is one thread's), or alone in a process with --role producer.
import { createHash, randomFillSync } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { StreamProducer } from '@proxystream/stream';
import { openPublisher, openStore } from './demo-transports.mjs';

/**
 * Streams `count` frames of `size` bytes to `topic`, then ends the topic, and returns what went
 * where. `shouldStop()` is asked before each frame (a signal stops the run after the frames
 * already sent). Closes the publisher, not the store.
 */
export async function produceFrames({
  publisher,
  store,
  topic,
  count,
  size,
  batch,
  blurryEvery,
  shouldStop = () => false,
  totals = producerTotals(),
}) {
  const producer = new StreamProducer(countingPublisher(publisher, totals), {
    defaultStore: countingStore(store, totals),
    batchSize: batch,
  });
  // One random base frame; each frame is a copy with its own header, so frames differ and making
  // them costs a memcpy rather than a random generator.
  const base = randomFillSync(Buffer.allocUnsafe(size));
  try {
    for (let i = 0; i < count && !shouldStop(); i++) {
      const frame = Buffer.allocUnsafe(size);
      base.copy(frame);
      if (size >= 4) frame.writeUInt32BE(i, 0);
      if (size > 4) randomFillSync(frame, 4, Math.min(60, size - 4));
      const blurry = blurryEvery > 0 && i % blurryEvery === blurryEvery - 1;
      await producer.send(topic, frame, {
        metadata: {
          frame: i,
          // The dispatcher of a split run learns from this how many frames to wait for.
          of: count,
          camera: i % 2 === 0 ? 'left' : 'right',
          quality: blurry ? 'blurry' : 'sharp',
          bytes: frame.byteLength,
          sha256: createHash('sha256').update(frame).digest('hex'),
        },
      });
      totals.produced++;
      sampleMemory(totals);
    }
  } finally {
    // The partial batch, then the end of the topic: the dispatcher ends once it has seen all.
    await producer.close({ topics: [topic] });
  }
  return totals;
}

/** What {@link produceFrames} counts; pass one in to keep the counts of a run that failed. */
export function producerTotals() {
  return {
    produced: 0,
    storeBytes: 0,
    brokerBytes: 0,
    brokerMessages: 0,
    peakArrayBuffers: 0,
    peakHeap: 0,
  };
}

/** Counts the bytes of every message the producer hands to the broker. */
function countingPublisher(inner, totals) {
  return {
    async send(topic, message) {
      totals.brokerBytes += message.byteLength;
      totals.brokerMessages++;
      await inner.send(topic, message);
    },
    close: () => inner.close(),
  };
}

/** Counts the bytes put into the store. */
function countingStore(inner, totals) {
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

function sampleMemory(totals) {
  const usage = process.memoryUsage();
  totals.peakArrayBuffers = Math.max(totals.peakArrayBuffers, usage.arrayBuffers);
  totals.peakHeap = Math.max(totals.peakHeap, usage.heapUsed);
}

/**
 * A publisher whose broker (the in-process one) lives in the main thread: each envelope crosses
 * over the port and `send` resolves when the main thread's publisher accepted it, so backpressure
 * crosses too. With a network broker this thread opens a publisher of its own instead.
 */
function portPublisher(port) {
  const pending = new Map();
  let nextId = 0;
  port.on('message', (message) => {
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

// The thread entry: everything it opens comes from the serialisable settings in workerData.
if (!isMainThread && workerData?.demo === 'producer') {
  const { broker, store: storeSettings, run } = workerData;
  let stopRequested = false;
  parentPort.on('message', (message) => {
    if (message.type === 'stop') stopRequested = true;
  });
  const totals = producerTotals();
  let store;
  try {
    const publisher =
      broker.kind === 'inproc' ? portPublisher(parentPort) : await openPublisher(broker);
    store = await openStore(storeSettings);
    await produceFrames({ ...run, publisher, store, totals, shouldStop: () => stopRequested });
    parentPort.postMessage({ type: 'done', totals });
  } catch (error) {
    parentPort.postMessage({ type: 'done', totals, error: error.stack ?? String(error) });
  } finally {
    await store?.close();
  }
}
