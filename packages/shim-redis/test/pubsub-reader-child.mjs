// A pub/sub consumer in a process of its own, for pubsub-load.test.ts: reads one channel as fast
// as it can on the built package (CI builds before testing) and prints one JSON line of figures
// when a 3-byte message `end` arrives or nothing arrives for `idleMs`.
//
//   node pubsub-reader-child.mjs <redis-url> <topic> [idleMs] [module]
//
// It prints `ready` once subscribed. `module` (default ../dist/index.js) lets a measurement run a
// build elsewhere.

const [url, topic, idle = '5000', module = new URL('../dist/index.js', import.meta.url).href] =
  process.argv.slice(2);
const idleMs = Number(idle);
const { RedisPubSubSubscriber } = await import(module);
const subscriber = await RedisPubSubSubscriber.create(topic, { connection: url });
process.stdout.write('ready\n');
let received = 0;
let bytes = 0;
let lossErrors = 0;
let first;
let last;
let ended = 'timeout';
for (;;) {
  let timer;
  const idleOut = new Promise((resolve) => {
    timer = setTimeout(resolve, idleMs, 'idle');
  });
  const outcome = await Promise.race([subscriber.next(), idleOut]).catch((error) => error);
  clearTimeout(timer);
  if (outcome === 'idle') break;
  if (outcome instanceof Error) {
    if (outcome.code !== 'MESSAGES_LOST') throw outcome;
    lossErrors++;
    continue;
  }
  if (outcome.done) break;
  const message = outcome.value;
  if (message.byteLength === 3 && Buffer.from(message).toString() === 'end') {
    ended = 'end';
    break;
  }
  last = performance.now();
  first ??= last;
  received++;
  bytes += message.byteLength;
}
process.stdout.write(
  `${JSON.stringify({
    received,
    bytes,
    lossErrors,
    connectionLosses: subscriber.connectionLosses,
    dropped: subscriber.droppedMessages,
    ended,
    readMs: first === undefined ? 0 : Math.round(last - first),
  })}\n`,
);
await subscriber.close();
