import { collect } from '@proxystream/contract-tests';
import type { Publisher, Subscriber } from '@proxystream/protocols';
import { expect } from 'vitest';

/**
 * Sends one message as a copy and one handed over with `{ owned: true }`, then overwrites both
 * before the client writes them (it writes on a later tick): the copy must arrive with the bytes
 * of the call, the message handed over as it is then (it was not copied).
 */
export async function expectCopiedUnlessOwned(
  publisher: Publisher,
  subscriber: Subscriber,
  topic: string,
): Promise<void> {
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
