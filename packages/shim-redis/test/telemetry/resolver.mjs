// Worker thread: resolves each reference it is handed and reports the size; at 'done', its
// spans and metrics.
import { parentPort, workerData } from 'node:worker_threads';
import { ProxyReference } from '@proxystream/stream';
import { registerSdk } from './sdk.mjs';

const sdk = registerSdk('worker');
const { RedisStoreFactory } = await import(workerData.shimModule);
const stores = [
  new RedisStoreFactory({
    allowedServers: [workerData.server],
    allowedPrefixes: [workerData.prefix],
  }),
];
const pending = [];
parentPort.on('message', async (message) => {
  if (message === 'done') {
    await Promise.all(pending);
    parentPort.postMessage({ dump: await sdk.dump() });
    return;
  }
  const resolving = ProxyReference.fromJSON(message, { stores })
    .resolve()
    .then((value) => parentPort.postMessage({ bytes: value.byteLength }));
  pending.push(resolving);
});
