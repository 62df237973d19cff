import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStoreFactory } from '@proxystream/shim-redis';
import { FileStoreFactory, ProxyReference, StoreCache } from '@proxystream/stream';
import { type Frame, FrameKind, FrameReader, writeFrame } from './scaling-frames.js';

/** Settings of one worker process, passed as JSON in argv[2]. */
export interface ScalingWorkerSettings {
  /** TCP port of the dispatcher on 127.0.0.1. */
  readonly port: number;
  readonly sleepMs: number;
  readonly allowedRedisHosts: readonly string[];
  readonly allowedRedisPrefixes: readonly string[];
  readonly fileRoot: string;
}

// One worker of the scaling section, a process of its own as on another node: it connects to the
// dispatcher over TCP, takes tasks in arrival order, one at a time, like a task system's worker.
// A task is the item's bytes (they came through the socket) or a reference's JSON (resolved here,
// from the store, when the task runs — as a proxy resolves when the task touches it). The worker
// checks the item's length and a byte of it, sleeps (the simulated compute) and reports done.
const settings = JSON.parse(process.argv[2]!) as ScalingWorkerSettings;
const stores = new StoreCache([
  new RedisStoreFactory({
    allowedServers: settings.allowedRedisHosts,
    allowedPrefixes: settings.allowedRedisPrefixes,
  }),
  new FileStoreFactory({ allowedRoots: [settings.fileRoot] }),
]);
const queue: Frame[] = [];
let running = false;
let checksum = 0;

const socket = connect({ host: '127.0.0.1', port: settings.port, noDelay: true });
const reader = new FrameReader((frame) => {
  queue.push(frame);
  if (!running) void run();
});
socket.on('data', (chunk: Buffer) => reader.push(chunk));
socket.on('error', () => process.exit(1));
socket.on('close', () => {
  void stores.close().finally(() => process.exit(0));
});

async function run(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    const task = queue.shift()!;
    try {
      let item: Uint8Array;
      if (task.kind === FrameKind.taskBytes) item = task.payload;
      else {
        const json = task.payload.toString('utf8');
        item = await ProxyReference.fromJSON<Uint8Array>(json, { stores }).resolve();
      }
      // Touch the data so that nothing is resolved lazily or optimised away.
      checksum = (checksum + item.byteLength + (item[item.byteLength - 1] ?? 0)) | 0;
      if (settings.sleepMs > 0) await sleep(settings.sleepMs);
      const done = Buffer.allocUnsafe(16);
      done.writeDoubleBE(item.byteLength, 0);
      done.writeDoubleBE(process.memoryUsage.rss(), 8);
      writeFrame(socket, FrameKind.done, task.id, done);
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      writeFrame(socket, FrameKind.failed, task.id, Buffer.from(text.split('\n')[0]!));
    }
  }
  running = false;
}
