import type { ShimDescriptor } from '@proxystream/protocols/kit';
import type { BenchConfig } from './config.js';
import { REDIS_READ_COUNT } from './raw-redis.js';
import type { Entry } from './runner.js';
import { loadDescriptors } from './shims.js';
import { type EndpointFactory, streamContender } from './stream-pipe.js';

/**
 * Opens the shim's publisher and subscriber for one topic through its descriptor, with the
 * same read count as the raw contenders (raw-redis.ts) where the shim has one; `close` deletes
 * what the topic left on the broker.
 */
export function shimEndpoints(descriptor: ShimDescriptor, config: BenchConfig): EndpointFactory {
  const { env } = config;
  let prepared: Promise<void> | undefined;
  return async (topic) => {
    prepared ??= descriptor.prepare?.(env) ?? Promise.resolve();
    await prepared;
    const subscriber = await descriptor.subscriber(env, topic, { readCount: REDIS_READ_COUNT });
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
