import {
  AbortedError,
  ClosedError,
  InvalidTopicError,
  isAcknowledgingSubscriber,
  MessagesLostError,
  MessageTooLargeError,
  type Publisher,
  type Subscriber,
} from '@proxystream/protocols';
import type { DescriptorSubscribeOptions, ShimDescriptor } from '@proxystream/protocols/kit';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  activeHandleCount,
  assertAllReceived,
  assertNoneLost,
  collect,
  collectGarbage,
  drain,
  iteratorOf,
  label,
  labels,
  nextWithin,
  parallelSenders,
  readLabel,
  uniqueTopic,
  waitFor,
  within,
} from './helpers.js';
import type { BrokerContractOptions } from './options.js';

/** What the cases drive, from a descriptor. */
interface ContractTarget {
  name: string;
  capabilities: ShimDescriptor['capabilities'];
  invalidTopics: readonly string[];
  createPublisher(): Promise<Publisher>;
  createSubscriber(topic: string, options: DescriptorSubscribeOptions): Promise<Subscriber>;
  prepare?(): Promise<void>;
  cleanup?(topic: string): Promise<void>;
  restartBroker?: (() => Promise<void>) | undefined;
}

function targetOf(source: ShimDescriptor, options: BrokerContractOptions): ContractTarget {
  const env = options.env ?? process.env;
  const { restartBroker } = options;
  const broker = source.broker;
  return {
    name: source.title,
    capabilities: source.capabilities,
    invalidTopics: source.invalidTopics,
    createPublisher: () => source.publisher(env),
    createSubscriber: (topic, subscribe) => source.subscriber(env, topic, subscribe),
    ...(source.prepare === undefined ? {} : { prepare: () => source.prepare!(env) }),
    ...(source.cleanup === undefined ? {} : { cleanup: (topic) => source.cleanup!(env, topic) }),
    restartBroker:
      restartBroker === undefined || broker === undefined
        ? undefined
        : () => restartBroker(broker, env),
  };
}

/**
 * Registers the publish/subscribe contract of one shim as vitest suites, the cases chosen by the
 * descriptor's capabilities (ordering, competing consumers, persistence, what a slow subscriber
 * gets, the loss rule of fan-out shims); the broker-restart case runs when `restartBroker` is
 * given. Call it at the top level of the shim's contract test file.
 *
 * @example
 * ```ts
 * import { brokerContract } from '@proxystream/contract-tests';
 * import { redisListDescriptor } from '@proxystream/shim-redis/testing';
 *
 * brokerContract(redisListDescriptor);
 * ```
 */
export function brokerContract(source: ShimDescriptor, options: BrokerContractOptions = {}): void {
  const target = targetOf(source, options);
  const caps = target.capabilities;
  const quiet = options.inactivityTimeoutMs ?? 10_000;
  const open: Array<{ close(): Promise<void> }> = [];
  const topics: string[] = [];

  const topic = () => {
    const name = uniqueTopic(options.topicPrefix ?? `contract-${source.name}`);
    topics.push(name);
    return name;
  };
  const groupOf = (name: string): DescriptorSubscribeOptions =>
    caps.competingConsumers ? { group: `${name}-group` } : {};
  const publisher = async (): Promise<Publisher> => {
    const made = await target.createPublisher();
    open.push(made);
    return made;
  };
  const subscriber = async (
    name: string,
    extra: DescriptorSubscribeOptions = {},
  ): Promise<Subscriber> => {
    const made = await target.createSubscriber(name, extra);
    open.push(made);
    return made;
  };
  const texts = (messages: Uint8Array[]) => messages.map(readLabel);
  const sendAll = async (pub: Publisher, name: string, items: readonly string[]) => {
    for (const item of items) await pub.send(name, label(item));
  };

  describe(`${target.name}: broker contract`, () => {
    if (target.prepare !== undefined) beforeAll(() => target.prepare!());

    afterEach(async () => {
      const closing = open.splice(0).map((item) => item.close().catch(() => {}));
      await within(Promise.all(closing), 30_000, 'closing the case’s publishers and subscribers');
      const cleanup = target.cleanup;
      if (cleanup !== undefined) {
        await within(
          Promise.all(topics.splice(0).map((name) => cleanup(name).catch(() => {}))),
          30_000,
          'deleting the case’s topics',
        );
      }
    });

    describe('delivery', () => {
      it('delivers a message sent after the subscriber is created', async () => {
        const name = topic();
        const sub = await subscriber(name);
        const pub = await publisher();
        await pub.send(name, label('hello'));
        expect(texts(await collect(sub, 1, { inactivityMs: quiet }))).toEqual(['hello']);
      });

      const samples: Array<[string, Uint8Array]> = [
        ['an empty message', new Uint8Array(0)],
        ['a one-byte message', new Uint8Array([0x2a])],
        ['all 256 byte values', Uint8Array.from({ length: 256 }, (_, i) => i)],
        ['invalid UTF-8', new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1])],
      ];
      for (const [what, bytes] of samples) {
        it(`preserves ${what} byte for byte`, async () => {
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          await pub.send(name, bytes);
          const [received] = await collect(sub, 1, { inactivityMs: quiet });
          expect(Buffer.from(received!).equals(Buffer.from(bytes))).toBe(true);
        });
      }

      if (Number.isFinite(caps.maxMessageSize)) {
        it('delivers a message of exactly the declared maximum size', async () => {
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          const bytes = new Uint8Array(caps.maxMessageSize);
          for (let i = 0; i < bytes.length; i += 4093) bytes[i] = i % 251;
          await pub.send(name, bytes);
          const [received] = await collect(sub, 1, { inactivityMs: quiet });
          expect(received!.byteLength).toBe(bytes.byteLength);
          expect(Buffer.from(received!).equals(Buffer.from(bytes))).toBe(true);
        });

        it('rejects a message one byte over the maximum with MessageTooLargeError and sends nothing', async () => {
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          const error = await pub.send(name, new Uint8Array(caps.maxMessageSize + 1)).then(
            () => undefined,
            (caught: unknown) => caught,
          );
          expect(error).toBeInstanceOf(MessageTooLargeError);
          expect((error as MessageTooLargeError).code).toBe('MESSAGE_TOO_LARGE');
          await pub.send(name, label('after'));
          expect(texts(await collect(sub, 1, { inactivityMs: quiet }))).toEqual(['after']);
        });
      }

      it('is not affected by mutating the sent buffer after send', async () => {
        const name = topic();
        const sub = await subscriber(name);
        const pub = await publisher();
        const bytes = label('original');
        const sending = pub.send(name, bytes);
        bytes.fill(0x21);
        await sending;
        expect(texts(await collect(sub, 1, { inactivityMs: quiet }))).toEqual(['original']);
      });

      it('delivers a message handed over with { owned: true } byte for byte, a view into a larger buffer included', async () => {
        const name = topic();
        const sub = await subscriber(name);
        const pub = await publisher();
        const whole = label('xxhanded-overxx');
        // A window of its buffer that starts at offset 2: a shim must send exactly these bytes.
        const view = whole.subarray(2, whole.byteLength - 2);
        await pub.send(name, view, { owned: true });
        await pub.send(name, label('copied'));
        expect(texts(await collect(sub, 2, { inactivityMs: quiet }))).toEqual([
          'handed-over',
          'copied',
        ]);
      });

      it('keeps topics apart', async () => {
        const first = topic();
        const second = topic();
        const subFirst = await subscriber(first);
        const subSecond = await subscriber(second);
        const pub = await publisher();
        await sendAll(pub, first, labels('first', 5));
        await sendAll(pub, second, labels('second', 5));
        assertAllReceived(
          texts(await collect(subFirst, 5, { inactivityMs: quiet })),
          labels('first', 5),
        );
        assertAllReceived(
          texts(await collect(subSecond, 5, { inactivityMs: quiet })),
          labels('second', 5),
        );
        expect(await drain(subFirst, 200)).toEqual([]);
      });

      it('serves 20 topics at once', async () => {
        const names = Array.from({ length: 20 }, () => topic());
        const subs = await Promise.all(names.map((name) => subscriber(name)));
        const pub = await publisher();
        await Promise.all(names.map((name) => sendAll(pub, name, labels(name, 10))));
        await Promise.all(
          subs.map(async (sub, i) =>
            assertAllReceived(
              texts(await collect(sub, 10, { inactivityMs: quiet })),
              labels(names[i]!, 10),
            ),
          ),
        );
      });

      it('resolves a send to a topic nobody subscribed to', async () => {
        const pub = await publisher();
        await expect(
          within(pub.send(topic(), label('nobody')), quiet, 'send'),
        ).resolves.toBeUndefined();
      });

      const invalid = ['', ...target.invalidTopics];
      for (const bad of invalid) {
        it(`rejects the invalid topic ${JSON.stringify(bad)} on send and subscribe`, async () => {
          const pub = await publisher();
          await expect(pub.send(bad, label('x'))).rejects.toBeInstanceOf(InvalidTopicError);
          await expect(target.createSubscriber(bad, {})).rejects.toBeInstanceOf(InvalidTopicError);
        });
      }
    });

    if (caps.ordered) {
      describe('ordering', () => {
        it('delivers the messages of one topic in the order they were sent', async () => {
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          const sent = labels('ordered', 1000);
          const receiving = collect(sub, sent.length, { inactivityMs: quiet });
          await Promise.all(sent.map((item) => pub.send(name, label(item))));
          expect(texts(await receiving)).toEqual(sent);
        });
      });
    }

    if (caps.fanOut) {
      describe('fan-out', () => {
        it('delivers every message to each of three subscribers', async () => {
          const name = topic();
          const subs = [await subscriber(name), await subscriber(name), await subscriber(name)];
          const pub = await publisher();
          const sent = labels('fan', 50);
          await sendAll(pub, name, sent);
          for (const sub of subs) {
            assertAllReceived(
              texts(await collect(sub, sent.length, { inactivityMs: quiet })),
              sent,
            );
          }
        });
      });
    }

    if (caps.competingConsumers) {
      describe('competing consumers', () => {
        it('shares the messages of a group between its members without duplicates', async () => {
          const name = topic();
          const group = groupOf(name);
          const subs = [await subscriber(name, group), await subscriber(name, group)];
          const pub = await publisher();
          const sent = labels('work', 200);
          await sendAll(pub, name, sent);
          const received: string[] = [];
          await Promise.all(
            subs.map(async (sub) => {
              for (;;) {
                if (received.length >= sent.length) return;
                const outcome = await nextWithin(sub, 1500);
                if (outcome.kind !== 'value') return;
                received.push(readLabel(outcome.value));
              }
            }),
          );
          assertAllReceived(received, sent);
        });
      });
    }

    if (caps.persistent) {
      describe('persistence', () => {
        it('delivers messages sent before the subscriber existed', async () => {
          const name = topic();
          const pub = await publisher();
          const sent = labels('early', 20);
          await sendAll(pub, name, sent);
          const sub = await subscriber(name, groupOf(name));
          assertAllReceived(texts(await collect(sub, sent.length, { inactivityMs: quiet })), sent);
        });

        it('continues across subscribers closed and replaced without losing a message', async () => {
          const name = topic();
          const group = groupOf(name);
          const pub = await publisher();
          const sent = labels('relay', 90);
          await sendAll(pub, name, sent);
          const received: string[] = [];
          for (let round = 0; round < 3; round++) {
            const sub = await subscriber(name, group);
            received.push(...texts(await collect(sub, 30, { inactivityMs: quiet })));
            // The 30th was not moved past: an acknowledging shim may deliver it again, none may lose it.
            await sub.close();
          }
          const last = await subscriber(name, group);
          received.push(...texts(await drain(last, 1500)));
          assertNoneLost(received, sent);
          if (!caps.acknowledged) assertAllReceived(received, sent);
        });
      });
    }

    describe('close', () => {
      it('close() ends a pending iteration promptly', async () => {
        const sub = await subscriber(topic());
        const pending = iteratorOf(sub).next();
        await sub.close();
        await expect(within(pending, 5_000, 'pending next()')).resolves.toMatchObject({
          done: true,
        });
      });

      it('an AbortSignal ends a pending iteration promptly', async () => {
        const controller = new AbortController();
        const sub = await subscriber(topic(), { signal: controller.signal });
        const pending = iteratorOf(sub).next();
        controller.abort();
        const outcome = await within(
          pending.then(
            (result) => result,
            (error: unknown) => error,
          ),
          5_000,
          'pending next() after abort',
        );
        expect(outcome instanceof Error || (outcome as IteratorResult<unknown>).done === true).toBe(
          true,
        );
      });

      it('a subscriber created with an already-aborted signal rejects with AbortedError', async () => {
        const controller = new AbortController();
        controller.abort();
        const error = await target.createSubscriber(topic(), { signal: controller.signal }).then(
          async (made) => {
            await made.close();
            return undefined;
          },
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(AbortedError);
        expect((error as AbortedError).code).toBe('ABORTED');
      });

      it('break out of for await releases the subscription', async () => {
        const name = topic();
        const sub = await subscriber(name, groupOf(name));
        const pub = await publisher();
        await pub.send(name, label('first'));
        for await (const message of sub) {
          expect(readLabel(message)).toBe('first');
          break;
        }
        const after = await within(sub[Symbol.asyncIterator]().next(), 5_000, 'next() after break');
        expect(after.done).toBe(true);
        if (caps.competingConsumers || caps.fanOut) {
          const other = await subscriber(name, groupOf(name));
          await pub.send(name, label('second'));
          const got = texts(await collect(other, 1, { inactivityMs: quiet }));
          // A persistent group may redeliver 'first' when the released member had not acknowledged it.
          expect(got[0] === 'second' || (caps.acknowledged && got[0] === 'first')).toBe(true);
        }
      });

      it('20 concurrent senders then close() on the publisher: everything sent is delivered', async () => {
        const name = topic();
        const sub = await subscriber(name);
        const pub = await publisher();
        const sent: string[] = [];
        const sends: Promise<void>[] = [];
        for (let sender = 0; sender < 20; sender++) {
          for (let i = 0; i < 10; i++) {
            const item = `s${sender}-${i}`;
            sent.push(item);
            sends.push(pub.send(name, label(item)));
          }
        }
        const receiving = collect(sub, sent.length, { inactivityMs: quiet });
        await within(pub.close(), 30_000, 'publisher close');
        await Promise.all(sends);
        assertAllReceived(texts(await receiving), sent);
      });

      it('send after close rejects with ClosedError', async () => {
        const pub = await publisher();
        await pub.close();
        await expect(pub.send(topic(), label('late'))).rejects.toBeInstanceOf(ClosedError);
      });

      it('double and concurrent close are safe', async () => {
        const pub = await publisher();
        const sub = await subscriber(topic());
        await within(
          Promise.all([pub.close(), pub.close(), sub.close(), sub.close()]),
          10_000,
          'close',
        );
        await within(Promise.all([pub.close(), sub.close()]), 10_000, 'second close');
      });

      it('close right after create does not hang', async () => {
        const pub = await target.createPublisher();
        const sub = await target.createSubscriber(topic(), {});
        await within(Promise.all([pub.close(), sub.close()]), 10_000, 'close right after create');
      });

      it('leaves no handle open after close', async () => {
        const before = activeHandleCount();
        const name = topic();
        const pub = await target.createPublisher();
        const sub = await target.createSubscriber(name, {});
        await pub.send(name, label('x'));
        await collect(sub, 1, { inactivityMs: quiet });
        await pub.close();
        await sub.close();
        const settled = await waitFor(() => activeHandleCount() <= before, 5_000);
        expect(settled, `active handles: ${process.getActiveResourcesInfo().join(', ')}`).toBe(
          true,
        );
      });
    });

    describe('load', () => {
      it('delivers everything from 10 concurrent senders', async () => {
        const name = topic();
        const sub = await subscriber(name);
        const pub = await publisher();
        const expected = Array.from({ length: 10 }, (_, s) => labels(`p${s}`, 100)).flat();
        const receiving = collect(sub, expected.length, { inactivityMs: quiet });
        await parallelSenders(10, 100, (s, i) => pub.send(name, label(`p${s}-${i}`)));
        const received = texts(await receiving);
        assertAllReceived(received, expected);
        if (caps.ordered) {
          for (let s = 0; s < 10; s++) {
            expect(received.filter((item) => item.startsWith(`p${s}-`))).toEqual(
              labels(`p${s}`, 100),
            );
          }
        }
      });

      if (caps.slowConsumer !== 'drops-reported') {
        it('a 10 000-message burst arrives complete', async () => {
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          const sent = labels('burst', 10_000);
          const receiving = collect(sub, sent.length, { inactivityMs: quiet });
          await Promise.all(sent.map((item) => pub.send(name, label(item))));
          assertAllReceived(texts(await receiving), sent);
        });
      }

      if (caps.slowConsumer === 'backpressure') {
        it('a subscriber that does not read makes send wait, then everything arrives', async () => {
          const bound = options.backpressureBound ?? 10_000;
          const name = topic();
          const sub = await subscriber(name);
          const pub = await publisher();
          const total = bound * 2;
          let accepted = 0;
          const sending = (async () => {
            for (let i = 0; i < total; i++) {
              await pub.send(name, label(`slow-${i}`));
              accepted++;
            }
          })();
          // Wait until the sender stalls: no progress for 300 ms.
          let last = -1;
          while (accepted !== last) {
            last = accepted;
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
          expect(accepted).toBeLessThan(bound);
          const received = texts(await collect(sub, total, { inactivityMs: quiet }));
          await sending;
          expect(received).toEqual(labels('slow', total));
        });
      } else {
        it('a subscriber that does not read keeps its memory bounded', async () => {
          const name = topic();
          const losses: MessagesLostError[] = [];
          const sub = await subscriber(name, { onLoss: (error) => losses.push(error) });
          const pub = await publisher();
          const chunk = new Uint8Array(64 * 1024);
          const count = 2048; // 128 MiB in all
          collectGarbage();
          const before = process.memoryUsage();
          for (let i = 0; i < count; i++) {
            chunk[0] = i & 0xff;
            await pub.send(name, chunk);
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
          // Without a collection the sender's own garbage (copies made by the client while
          // encoding) would count as the subscriber's memory. Twice, a moment apart: external
          // buffers are released by callbacks that run after the first collection.
          collectGarbage();
          await new Promise((resolve) => setTimeout(resolve, 100));
          collectGarbage();
          const after = process.memoryUsage();
          const grown =
            after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);
          // Bounded: a fixed allowance for client buffers (a read-ahead of up to 16 MiB, the
          // client's socket buffers), well below the 128 MiB sent.
          expect(grown).toBeLessThan(48 * 1024 * 1024);
          const iterator = iteratorOf(sub);
          if (caps.slowConsumer === 'drops-reported') {
            // The loss rule: next() rejects with MessagesLostError once per loss, where it
            // happened (after the messages kept before it), the subscriber stays open and
            // next() again goes on after it; onLoss was called once for each of those losses.
            let kept = 0;
            let sentAfter = false;
            const rejections: unknown[] = [];
            for (;;) {
              const step = await within(iterator.next(), quiet, 'next() of a lossy stream').catch(
                (error: unknown) => {
                  if (!(error instanceof MessagesLostError)) throw error;
                  rejections.push(error);
                  return undefined;
                },
              );
              if (step === undefined) {
                // The buffer has room again: what is sent now arrives after the loss.
                if (!sentAfter) await pub.send(name, label('after the loss'));
                sentAfter = true;
                continue;
              }
              expect(step.done, 'the subscriber stays open after a loss').not.toBe(true);
              if (step.value.byteLength !== chunk.byteLength) {
                expect(readLabel(step.value)).toBe('after the loss');
                break;
              }
              kept++;
              // Nothing was dropped: the label still ends the loop, and the checks below fail.
              if (kept === count && !sentAfter) {
                await pub.send(name, label('after the loss'));
                sentAfter = true;
              }
            }
            expect(
              rejections.length,
              'next() must reject where messages were dropped',
            ).toBeGreaterThan(0);
            for (const error of rejections) {
              expect(error).toBeInstanceOf(MessagesLostError);
              expect((error as MessagesLostError).code).toBe('MESSAGES_LOST');
            }
            expect(kept).toBeLessThan(count);
            expect(losses, 'onLoss is called once per loss next() reports').toHaveLength(
              rejections.length,
            );
            for (const error of losses) expect(error).toBeInstanceOf(MessagesLostError);
          } else {
            // The broker keeps what the subscriber could not hold: the next message is intact.
            const outcome = await nextWithin(sub, quiet);
            expect(outcome.kind).toBe('value');
            expect(losses).toEqual([]);
          }
        });
      }
    });

    if (target.restartBroker !== undefined) {
      const restart = target.restartBroker;
      describe('broker faults', () => {
        it('the original subscriber goes on after the broker restarts twice', async () => {
          const name = topic();
          // A delivery the restart cut comes again after the subscriber's redeliveryMs, later
          // than the messages after it: short redelivery times, and a wait for it below.
          const sub = await subscriber(name, { ...groupOf(name), fastRedelivery: true });
          const pub = await publisher();
          const sent: string[] = [];
          const received: string[] = [];
          const errors: unknown[] = [];
          let stop = false;
          const sender = (async () => {
            for (let i = 0; !stop; i++) {
              const item = `fault-${i}`;
              try {
                await pub.send(name, label(item));
                sent.push(item);
              } catch {
                i--;
                await new Promise((resolve) => setTimeout(resolve, 100));
              }
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
          })();
          const reader = (async () => {
            for (;;) {
              const outcome = await nextWithin(sub, 60_000).catch((error: unknown) => {
                errors.push(error);
                return { kind: 'error' } as const;
              });
              if (outcome.kind === 'error' && !stop) {
                // A shim may surface the outage as an error; the subscriber must go on after it.
                await new Promise((resolve) => setTimeout(resolve, 50));
                continue;
              }
              if (outcome.kind !== 'value') return;
              received.push(readLabel(outcome.value));
            }
          })();
          await waitFor(() => received.length > 20, quiet);
          await restart();
          const afterFirst = received.length;
          await waitFor(() => received.length > afterFirst + 20, 30_000);
          await restart();
          const mark = sent.length;
          const resumed = await waitFor(
            () => received.some((item) => Number(item.slice(6)) > mark + 20),
            60_000,
          );
          stop = true;
          await sender;
          const lastSent = sent[sent.length - 1]!;
          await waitFor(() => received.includes(lastSent), quiet);
          if (caps.persistent) {
            const all = () => {
              const seen = new Set(received);
              return sent.every((item) => seen.has(item));
            };
            const redelivery = isAcknowledgingSubscriber(sub) ? (sub.redeliveryMs ?? 0) : 0;
            await waitFor(all, redelivery + quiet);
          }
          await sub.close();
          await within(reader, 10_000, 'reading the rest of the stream');
          expect(resumed).toBe(true);
          if (caps.persistent) assertNoneLost(received, sent);
          if (caps.slowConsumer === 'drops-reported') {
            // A fan-out shim cannot know what it missed while disconnected: each outage is a
            // loss, thrown by next() as MessagesLostError (and nothing else is thrown).
            expect(errors.length).toBeGreaterThanOrEqual(2);
            for (const error of errors) expect(error).toBeInstanceOf(MessagesLostError);
          }
        });
      });
    }
  });
}
