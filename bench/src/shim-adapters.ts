import type { ShimDescriptor } from '@proxystream/protocols/kit';
import type { BenchConfig } from './config.js';
import { REDIS_READ_COUNT } from './raw-redis.js';
import { ZMQ_HIGH_WATER_MARK } from './raw-zeromq.js';
import type { Entry } from './runner.js';
import { loadDescriptors } from './shims.js';
import { type EndpointFactory, streamContender } from './stream-pipe.js';

/**
 * Read-ahead of a shim's subscriber: as many messages as the raw zeromq contender's high-water
 * mark holds, and no byte limit below what those messages may weigh (the raw client keeps them
 * in native memory). Only shims with such limits (ZeroMQ) take it.
 */
const MAX_BUFFERED = Object.freeze({ messages: ZMQ_HIGH_WATER_MARK, bytes: 2 ** 31 - 1 });

/**
 * Opens the shim's publisher and subscriber for one topic through its descriptor, with the
 * same read count (raw-redis.ts) and read-ahead (raw-zeromq.ts) as the raw contenders where the
 * shim has such settings; `close` deletes what the topic left on the broker.
 */
export function shimEndpoints(descriptor: ShimDescriptor, config: BenchConfig): EndpointFactory {
  const { env } = config;
  let prepared: Promise<void> | undefined;
  return async (topic) => {
    prepared ??= descriptor.prepare?.(env) ?? Promise.resolve();
    await prepared;
    const subscriber = await descriptor.subscriber(env, topic, {
      readCount: REDIS_READ_COUNT,
      maxBuffered: MAX_BUFFERED,
    });
    const publisher = await descriptor.publisher(env);
    return {
      publisher,
      subscriber,
      close: async () => {
        await descriptor.cleanup?.(env, topic);
      },
    };
  };
}

/** The descriptor named `name` among the bench's shim packages, or why it is not available. */
export async function descriptorNamed(name: string): Promise<ShimDescriptor | string> {
  const reasons: string[] = [];
  for (const found of await loadDescriptors()) {
    if ('reason' in found) reasons.push(found.reason);
    else {
      const descriptor = found.descriptors.find((candidate) => candidate.name === name);
      if (descriptor !== undefined) return descriptor;
    }
  }
  return reasons.length > 0 ? reasons.join('; ') : `no shim descriptor named ${name}`;
}

/** The name of a shim's stream contender in the report. */
export function streamContenderName(title: string): string {
  return `stream · ${title} shim`;
}

/** StreamProducer → shim → StreamConsumer through `descriptor`. */
export function shimStreamContender(descriptor: ShimDescriptor, config: BenchConfig): Entry {
  return streamContender(
    streamContenderName(descriptor.title),
    descriptor.name,
    shimEndpoints(descriptor, config),
  );
}
