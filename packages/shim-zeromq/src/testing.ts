/**
 * The ZeroMQ shims as the project's tooling sees them: {@link zmqPubSubDescriptor} and
 * {@link zmqPushPullDescriptor} (and {@link descriptors}). ZeroMQ has no broker, so each
 * descriptor keeps, per process, the rendezvous its publishers and subscribers meet at, bound on
 * 127.0.0.1 with system-chosen ports:
 *
 * - PUB/SUB: one forwarder (XSUB ← publishers connect, XPUB → subscribers connect). A
 *   descriptor subscriber is ready once the forwarder has seen its subscription; a descriptor
 *   publisher once a probe it sent has reached the forwarder. So a message sent after both
 *   resolved is delivered: ZeroMQ's "slow joiner" cannot eat it.
 * - PUSH/PULL: one queue device per topic (PULL ← publishers connect, PUSH → subscribers
 *   connect); the descriptor's publisher keeps one {@link ZmqPushPublisher} per topic.
 *
 * Both are in-process: publishers and subscribers of one descriptor must share the process.
 *
 * @packageDocumentation
 */
import {
  ClosedError,
  type MessagingAttributes,
  type Publisher,
  TimeoutError,
} from '@proxystream/protocols';
import { type ShimDescriptor, settledWithin, withTimeout } from '@proxystream/protocols/kit';
import { Pull, Push, XPublisher, XSubscriber } from 'zeromq';
import {
  ZMQ_MESSAGING,
  ZMQ_PUBSUB_CAPABILITIES,
  ZMQ_PUSHPULL_CAPABILITIES,
} from './capabilities.js';
import { messageParts, newPublisherId, pendingMessage, topicFrame } from './framing.js';
import { ZmqPublisher } from './publisher.js';
import { ZmqPullSubscriber } from './pull-subscriber.js';
import { ZmqPushPublisher } from './push-publisher.js';
import { ZmqSubscriber } from './subscriber.js';
import { assertValidTopic, MAX_TOPIC_LENGTH } from './topic.js';

const LOOPBACK = 'tcp://127.0.0.1:*';
const PROBE_PREFIX = Buffer.from('proxystream-zmq-probe-');
const READY_TIMEOUT_MS = 10_000;
const KERNEL_BUFFER = 16 * 1024;
/** PUB/SUB marks of the descriptor: a burst of the contract's size (1 000 sends) passes whole. */
const FAN_OUT_HWM = 10_000;
const INVALID_TOPICS = Object.freeze(['bad\0topic', 'x'.repeat(MAX_TOPIC_LENGTH + 1)]);

/** Raw publishing: framed like the shim's messages, from a publisher id of its own. */
class RawFramer {
  readonly #id = newPublisherId();
  readonly #sequences = new Map<string, number>();
  frames(topic: string, bytes: Uint8Array): Buffer[] {
    const sequence = this.#sequences.get(topic) ?? 0;
    this.#sequences.set(topic, (sequence + 1) >>> 0);
    return messageParts(pendingMessage(topicFrame(topic), bytes, false), this.#id, sequence);
  }
}

/** The PUB/SUB rendezvous: an XSUB/XPUB forwarder that watches subscriptions and probes. */
class Forwarder {
  readonly frontend = new XSubscriber({ linger: 0, receiveHighWaterMark: FAN_OUT_HWM });
  readonly backend = new XPublisher({ linger: 0, sendHighWaterMark: FAN_OUT_HWM });
  readonly raw = new RawFramer();
  frontendAddress = '';
  backendAddress = '';
  readonly #seen = new Map<string, number>();
  readonly #issued = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  readonly #probes = new Map<string, () => void>();

  async start(): Promise<this> {
    this.backend.verbosity = 'allSubs';
    await this.frontend.bind(LOOPBACK);
    await this.backend.bind(LOOPBACK);
    this.frontendAddress = this.frontend.lastEndpoint!;
    this.backendAddress = this.backend.lastEndpoint!;
    await this.frontend.send(Buffer.from([1])); // everything from every publisher
    void this.#forward();
    void this.#watch();
    return this;
  }

  /** A ticket: resolved (see {@link ready}) once this many subscriptions of `topic` were seen. */
  ticket(topic: string): number {
    const next = (this.#issued.get(topic) ?? 0) + 1;
    this.#issued.set(topic, next);
    return next;
  }

  /** A ticket whose subscriber never subscribed: counts as seen, so later tickets still match. */
  forfeit(topic: string): void {
    this.#count(topicFrame(topic).toString('latin1'));
  }

  ready(topic: string, ticket: number): Promise<void> {
    const key = topicFrame(topic).toString('latin1');
    return new Promise((resolve) => {
      const check = (): void => {
        if ((this.#seen.get(key) ?? 0) < ticket) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  probe(name: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#probes.delete(name);
        resolve(false);
      }, ms);
      this.#probes.set(name, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #count(key: string): void {
    this.#seen.set(key, (this.#seen.get(key) ?? 0) + 1);
    for (const check of [...this.#waiters]) check();
  }

  async #forward(): Promise<void> {
    for (;;) {
      let parts: Buffer[];
      try {
        parts = await this.frontend.receive();
      } catch {
        return;
      }
      const first = parts[0];
      if (first?.subarray(0, PROBE_PREFIX.length).equals(PROBE_PREFIX)) {
        // The probe's topic: the first part up to its NUL.
        const name = first.subarray(0, Math.max(0, first.indexOf(0))).toString();
        this.#probes.get(name)?.();
        this.#probes.delete(name);
        continue;
      }
      try {
        await this.backend.send(parts);
      } catch {
        return;
      }
    }
  }

  async #watch(): Promise<void> {
    for (;;) {
      let parts: Buffer[];
      try {
        parts = await this.backend.receive();
      } catch {
        return;
      }
      const message = parts[0];
      if (message !== undefined && message[0] === 1)
        this.#count(message.subarray(1).toString('latin1'));
    }
  }
}

let forwarder: Promise<Forwarder> | undefined;
const theForwarder = (): Promise<Forwarder> => {
  forwarder ??= new Forwarder().start();
  return forwarder;
};
let probes = 0;

/** ZeroMQ PUB/SUB through the descriptor's in-process forwarder. */
export const zmqPubSubDescriptor: ShimDescriptor = Object.freeze({
  name: 'zeromq-pubsub',
  title: 'ZeroMQ PUB/SUB',
  packageName: '@proxystream/shim-zeromq',
  broker: undefined,
  capabilities: ZMQ_PUBSUB_CAPABILITIES,
  invalidTopics: INVALID_TOPICS,
  async publisher(): Promise<Publisher> {
    const hub = await theForwarder();
    const publisher = await ZmqPublisher.create({
      connect: hub.frontendAddress,
      sendHighWaterMark: FAN_OUT_HWM,
    });
    const name = `${PROBE_PREFIX.toString()}${process.pid}-${++probes}`;
    const started = Date.now();
    try {
      for (;;) {
        await publisher.send(name, new Uint8Array(0));
        if (await hub.probe(name, 20)) return publisher;
        if (Date.now() - started > READY_TIMEOUT_MS) {
          throw new TimeoutError(
            `the ZeroMQ forwarder did not hear from a publisher within ${READY_TIMEOUT_MS} ms`,
          );
        }
      }
    } catch (error) {
      await publisher.close();
      throw error;
    }
  },
  async subscriber(_env, topic, options = {}) {
    assertValidTopic(topic);
    const hub = await theForwarder();
    const ticket = hub.ticket(topic);
    let subscriber: ZmqSubscriber;
    try {
      subscriber = await ZmqSubscriber.create(topic, {
        connect: hub.backendAddress,
        receiveHighWaterMark: FAN_OUT_HWM,
        ...(options.maxBuffered?.messages === undefined
          ? {}
          : { maxBufferedMessages: options.maxBuffered.messages }),
        ...(options.maxBuffered?.bytes === undefined
          ? {}
          : { maxBufferedBytes: options.maxBuffered.bytes }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.onLoss === undefined ? {} : { onLoss: options.onLoss }),
      });
    } catch (error) {
      hub.forfeit(topic);
      throw error;
    }
    try {
      await withTimeout(hub.ready(topic, ticket), READY_TIMEOUT_MS, 'the ZeroMQ subscription');
    } catch (error) {
      await subscriber.close();
      throw error;
    }
    return subscriber;
  },
  async publishRaw(_env, topic, bytes) {
    const hub = await theForwarder();
    await hub.backend.send(hub.raw.frames(topic, bytes));
  },
} satisfies ShimDescriptor);

/** The PUSH/PULL rendezvous of one topic: a queue device. */
class QueueDevice {
  // Small kernel buffers: what waits between publisher and subscriber is mostly the high-water
  // marks, so a reader that stops makes `send` wait soon (the contract's backpressure case).
  readonly frontend = new Pull({ linger: 0, receiveBufferSize: KERNEL_BUFFER });
  readonly backend = new Push({ linger: 0, sendBufferSize: KERNEL_BUFFER });
  readonly raw = new RawFramer();
  frontendAddress = '';
  backendAddress = '';

  #disconnects = 0;
  #onDisconnect: Array<() => void> = [];

  async start(): Promise<this> {
    // A puller that closed must be gone from the round robin before its close resolves, or the
    // device may hand the next message to its dead connection.
    this.backend.events.on('disconnect', () => {
      this.#disconnects++;
      for (const notify of this.#onDisconnect.splice(0)) notify();
    });
    await this.frontend.bind(LOOPBACK);
    await this.backend.bind(LOOPBACK);
    this.frontendAddress = this.frontend.lastEndpoint!;
    this.backendAddress = this.backend.lastEndpoint!;
    void this.#forward();
    return this;
  }

  /** Resolves once the device saw a puller disconnect after `seen` earlier ones. */
  disconnected(seen: number): Promise<void> {
    if (this.#disconnects > seen) return Promise.resolve();
    return new Promise((resolve) =>
      this.#onDisconnect.push(() => resolve(this.disconnected(seen))),
    );
  }

  get disconnects(): number {
    return this.#disconnects;
  }

  close(): void {
    this.frontend.close();
    this.backend.close();
  }

  async #forward(): Promise<void> {
    try {
      for (;;) {
        const parts = await this.frontend.receive();
        // Waits while no puller has room: backpressure reaches the publisher through the device.
        await this.backend.send(parts);
      }
    } catch {
      // Closed by cleanup.
    }
  }
}

const devices = new Map<string, Promise<QueueDevice>>();
const deviceOf = (topic: string): Promise<QueueDevice> => {
  let device = devices.get(topic);
  if (device === undefined) {
    device = new QueueDevice().start();
    devices.set(topic, device);
  }
  return device;
};

/** A publisher of any topic: one {@link ZmqPushPublisher} per topic, connected to its device. */
class TopicPushPublisher implements Publisher {
  readonly messaging: MessagingAttributes = ZMQ_MESSAGING;
  readonly #publishers = new Map<string, Promise<ZmqPushPublisher>>();
  readonly #ready = new Map<string, ZmqPushPublisher>();
  #closed = false;

  send(topic: string, message: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the ZeroMQ publisher'));
    const ready = this.#ready.get(topic);
    if (ready !== undefined) return ready.send(topic, message);
    try {
      assertValidTopic(topic);
    } catch (error) {
      return Promise.reject(error);
    }
    let publisher = this.#publishers.get(topic);
    if (publisher === undefined) {
      publisher = deviceOf(topic).then(async (device) => {
        const made = await ZmqPushPublisher.create({
          connect: device.frontendAddress,
          sendBufferSize: KERNEL_BUFFER,
        });
        this.#ready.set(topic, made);
        return made;
      });
      this.#publishers.set(topic, publisher);
    }
    // The caller may reuse `message` once send returned: keep a copy until the socket exists.
    const copy = Uint8Array.from(message);
    return publisher.then((made) => made.send(topic, copy));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#publishers.values()];
    this.#publishers.clear();
    this.#ready.clear();
    await Promise.all(all.map(async (publisher) => (await publisher).close()));
  }
}

/** ZeroMQ PUSH/PULL through an in-process queue device per topic. */
export const zmqPushPullDescriptor: ShimDescriptor = Object.freeze({
  name: 'zeromq-pushpull',
  title: 'ZeroMQ PUSH/PULL',
  packageName: '@proxystream/shim-zeromq',
  broker: undefined,
  capabilities: ZMQ_PUSHPULL_CAPABILITIES,
  invalidTopics: INVALID_TOPICS,
  publisher: async (): Promise<Publisher> => new TopicPushPublisher(),
  async subscriber(_env, topic, options = {}) {
    assertValidTopic(topic);
    const device = await deviceOf(topic);
    const subscriber = await ZmqPullSubscriber.create(topic, {
      connect: device.backendAddress,
      receiveBufferSize: KERNEL_BUFFER,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onLoss === undefined ? {} : { onLoss: options.onLoss }),
    });
    const close = subscriber.close.bind(subscriber);
    subscriber.close = async () => {
      const seen = device.disconnects;
      const first = !subscriber.closed;
      await close();
      if (first) await settledWithin(device.disconnected(seen), 1_000);
    };
    return subscriber;
  },
  async publishRaw(_env, topic, bytes) {
    const device = await deviceOf(topic);
    await device.backend.send(device.raw.frames(topic, bytes));
  },
  async cleanup(_env, topic) {
    const device = devices.get(topic);
    devices.delete(topic);
    (await device)?.close();
  },
} satisfies ShimDescriptor);

/** This package's shims. */
export const descriptors: readonly ShimDescriptor[] = Object.freeze([
  zmqPubSubDescriptor,
  zmqPushPullDescriptor,
]);
