import type { Publisher, Subscriber } from '@proxystream/protocols';
import { expect } from 'vitest';
import { collect, label, readLabel } from './helpers.js';

/** Options of {@link expectCopiedUnlessOwned}. */
export interface CopiedUnlessOwnedOptions {
  /**
   * Sends and receives one message first, for a publisher whose first send to a topic waits for
   * something (Kafka creates the topic): the two sends under test then reach the client at once.
   */
  warmUp?: boolean;
}

/**
 * Sends one message as a copy and one handed over with `{ owned: true }`, then overwrites both
 * before the client writes them (a client that writes on a later tick): the copy must arrive
 * with the bytes of the call, the message handed over as it is then (it was not copied). Fails
 * for a publisher that copies a handed-over message, and for one that does not copy the other.
 *
 * @example
 * ```ts
 * it('copies each message unless the caller hands it over', () =>
 *   expectCopiedUnlessOwned(publisher, subscriber, uniqueTopic('owned')));
 * ```
 */
export async function expectCopiedUnlessOwned(
  publisher: Publisher,
  subscriber: Subscriber,
  topic: string,
  options: CopiedUnlessOwnedOptions = {},
): Promise<void> {
  if (options.warmUp === true) {
    await publisher.send(topic, label('ready'));
    expect((await collect(subscriber, 1)).map(readLabel)).toEqual(['ready']);
  }
  const copied = Uint8Array.of(1, 1, 1);
  const handedOver = Uint8Array.of(2, 2, 2);
  const sends = [publisher.send(topic, copied), publisher.send(topic, handedOver, { owned: true })];
  copied.fill(9);
  handedOver.fill(8);
  await Promise.all(sends);
  const received = await collect(subscriber, 2);
  expect(received.map((message) => Array.from(message))).toEqual([
    [1, 1, 1],
    [8, 8, 8],
  ]);
}
