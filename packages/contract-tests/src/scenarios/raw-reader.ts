import type { Subscriber } from '@proxystream/protocols';
import type { StreamModule } from '../stream-module.js';
import type { ObjectSource } from './tally.js';

/**
 * Reads a shim subscriber as an object source without a `StreamConsumer`: each message is
 * decoded with the wire codec and the default serializer (inline objects only); an
 * end-of-stream or an empty batch yields `undefined`. What the shim itself guarantees, without
 * the consumer's sequence tracking.
 */
export function rawReader(
  subscriber: Subscriber,
  stream: Pick<StreamModule, 'decodeBatch' | 'defaultSerializer'>,
): ObjectSource {
  const iterator = subscriber[Symbol.asyncIterator]();
  const ready: unknown[] = [];
  return {
    async nextObject() {
      while (ready.length === 0) {
        const result = await iterator.next();
        if (result.done) return { done: true, value: undefined };
        const batch = stream.decodeBatch(result.value);
        for (const event of batch.events) {
          if (event.type === 'new-object' && event.body.kind === 'inline') {
            ready.push(stream.defaultSerializer.deserialize(event.body.data));
          }
        }
        if (ready.length === 0) return { done: false, value: undefined };
      }
      return { done: false, value: ready.shift() };
    },
    close: () => subscriber.close(),
  };
}
