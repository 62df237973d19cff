import { randomBytes } from 'node:crypto';
import type { DescriptorSubscribeOptions, ShimDescriptor } from '@proxystream/protocols/kit';

/** A topic name no other run uses (valid on every shim: letters, digits and dashes). */
export function scenarioTopic(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** The subscribe options of a scenario's reader: a group of its own where the shim has groups. */
export function readerOptions(
  descriptor: ShimDescriptor,
  topic: string,
): DescriptorSubscribeOptions {
  const { persistent, competingConsumers } = descriptor.capabilities;
  return persistent && competingConsumers ? { group: `g-${topic}` } : {};
}
