import { ZMQ_HIGH_WATER_MARK } from './raw-zeromq.js';
import type { EndpointFactory } from './stream-pipe.js';

const LOOPBACK = 'tcp://127.0.0.1:*';

/**
 * The shim's PUSH/PULL sockets connected to each other as the raw zeromq contender connects its
 * own (PUSH → PULL on loopback tcp, default kernel buffers and high-water marks), instead of
 * through the descriptor's queue device: the device is a rendezvous for the contract suite, an
 * extra hop (a receive and a send per message on this event loop) that the raw contender does
 * not take. With it the shim's row measured the device more than the shim.
 */
export const zmqPushPullDirect: EndpointFactory = async (topic) => {
  // Loaded here, as the bench loads every shim (shims.ts): a shim that cannot load is reported,
  // not a bench that cannot start.
  const { ZmqPullSubscriber, ZmqPushPublisher } = await import('@proxystream/shim-zeromq');
  const subscriber = await ZmqPullSubscriber.create(topic, { bind: LOOPBACK });
  const publisher = await ZmqPushPublisher.create({ connect: subscriber.endpoints[0]! });
  return { publisher, subscriber, close: async () => undefined };
};

/** How long the PUB/SUB join waits for one probe before it sends the next. */
const PROBE_WAIT_MS = 5;
const JOIN_TIMEOUT_MS = 10_000;

/**
 * The shim's PUB → SUB sockets connected to each other as the raw zeromq contender connects its
 * own (the publisher binds, the subscriber connects; the raw contender's high-water marks and a
 * read-ahead as deep), instead of through the descriptor's XSUB/XPUB forwarder. ZeroMQ's slow
 * joiner is waited out as the raw contender does: empty probes until one arrives, then a last
 * probe read up to, so that no probe is left for the consumer.
 */
export const zmqPubSubDirect: EndpointFactory = async (topic) => {
  const { ZmqPublisher, ZmqSubscriber } = await import('@proxystream/shim-zeromq');
  const publisher = await ZmqPublisher.create({
    bind: LOOPBACK,
    sendHighWaterMark: ZMQ_HIGH_WATER_MARK,
  });
  const subscriber = await ZmqSubscriber.create(topic, {
    connect: publisher.endpoints[0]!,
    receiveHighWaterMark: ZMQ_HIGH_WATER_MARK,
    maxBufferedMessages: ZMQ_HIGH_WATER_MARK,
    maxBufferedBytes: 2 ** 31 - 1,
  });
  try {
    const started = Date.now();
    let pending: Promise<IteratorResult<Uint8Array>> | undefined;
    for (;;) {
      if (Date.now() - started > JOIN_TIMEOUT_MS) throw new Error('the ZeroMQ SUB did not join');
      await publisher.send(topic, new Uint8Array(0));
      pending ??= subscriber.next();
      const got = await Promise.race([
        pending,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), PROBE_WAIT_MS)),
      ]);
      if (got !== undefined) break;
    }
    // Joined: every probe from now on arrives, in order, so reading up to a last one leaves none.
    await publisher.send(topic, new Uint8Array([1]));
    for (;;) {
      const got = await subscriber.next();
      if (got.done === true) throw new Error('the ZeroMQ SUB ended while joining');
      if (got.value.byteLength === 1) break;
    }
  } catch (error) {
    await Promise.all([publisher.close(), subscriber.close()]);
    throw error;
  }
  return { publisher, subscriber, close: async () => undefined };
};
