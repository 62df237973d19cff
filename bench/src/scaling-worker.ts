import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { RedisStoreFactory } from '@proxystream/shim-redis';
import { FileStoreFactory, ProxyReference, StoreCache } from '@proxystream/stream';

/** A task from the dispatcher: the object's bytes (direct) or a reference's JSON (store-backed). */
export type ScalingTask = { id: number; bytes: Uint8Array } | { id: number; reference: string };

/** Settings of one worker thread. */
export interface ScalingWorkerData {
  readonly sleepMs: number;
  readonly allowedRedisHosts: readonly string[];
  readonly fileRoot: string;
}

// One worker of the scaling section: resolves each task's item (references from the store), checks
// its size, sleeps, and reports the task done. Tasks run one at a time, in arrival order.
const settings = workerData as ScalingWorkerData;
const stores = new StoreCache([
  new RedisStoreFactory({
    allowedHosts: settings.allowedRedisHosts,
    allowedPrefixes: ['bench:scaling:'],
  }),
  new FileStoreFactory({ allowedRoots: [settings.fileRoot] }),
]);
let chain: Promise<void> = Promise.resolve();
parentPort!.on('message', (task: ScalingTask) => {
  chain = chain.then(async () => {
    let length: number;
    if ('bytes' in task) length = task.bytes.byteLength;
    else {
      const value = await ProxyReference.fromJSON<Uint8Array>(task.reference, { stores }).resolve();
      length = value.byteLength;
    }
    await sleep(settings.sleepMs);
    parentPort!.postMessage({ id: task.id, length });
  });
  chain.catch((error: unknown) => {
    parentPort!.postMessage({ id: task.id, error: String(error) });
  });
});
