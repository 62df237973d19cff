import { MessageChannel, MessagePort } from 'node:worker_threads';
import { type Capabilities, ClosedError, InvalidArgumentError } from '@proxystream/protocols';
import { abortable, throwIfAborted, withTimeout } from '@proxystream/protocols/kit';
import { threadsCapabilities } from './threads-topic.js';

/**
 * What {@link ThreadsBroker.handle} returns: a `MessagePort` to the broker, for one other thread.
 * Pass it to a worker in `workerData` (or `postMessage`) **and list its port in `transferList`**;
 * in the worker, give it as `connection` to {@link ThreadsPublisher.create} and
 * {@link ThreadsSubscriber.create}, as many times as needed. It works inside one process only.
 */
export interface ThreadsBrokerHandle {
  /** Always `'proxystream.threads-broker'`. */
  readonly type: 'proxystream.threads-broker';
  /** Version of the protocol over the port; currently 1. */
  readonly version: 1;
  /** The port publishers and subscribers of the receiving thread connect through. */
  readonly port: MessagePort;
}

/** Where a worker-threads publisher or subscriber connects: the broker itself, or its handle. */
export type ThreadsConnection = ThreadsBroker | ThreadsBrokerHandle;

/**
 * A publisher in the broker's own thread (its `connection` is the broker itself): its messages
 * reach the broker by function call instead of a port hop, and its acknowledgements come back the
 * same way, at once. Never crosses a port. @internal
 */
export interface DirectLink {
  /** Called by the broker for every `count` messages of `bytes` it delivered or dropped. */
  readonly acknowledged: (count: number, bytes: number) => void;
  /**
   * Set by the broker when it accepts the publisher: routes one message, kept as `ownership`
   * says when it must wait. `false` once the broker or the link closed: the message was not taken.
   */
  route?: (topic: string, bytes: Uint8Array, ownership: Ownership) => boolean;
}

/**
 * Who holds a message's bytes when the broker gets them: only the broker (`given`: they came
 * over a port, or a publisher of this thread handed them over), only the broker with the
 * sender's `ArrayBuffer` to be detached (`moved`: `transfer: true`), or still the sender too
 * (`borrowed`: it may reuse them once `send` returned, so the broker copies what it keeps).
 * @internal
 */
export type Ownership = 'given' | 'moved' | 'borrowed';

/** A request to join the broker, sent with the port the broker keeps. @internal */
export type LinkRequest =
  | { readonly k: 'pub'; readonly port: MessagePort; readonly direct?: DirectLink }
  | {
      readonly k: 'sub';
      readonly port: MessagePort;
      readonly topic: string;
      readonly group: string | undefined;
      readonly maxMessages: number;
      readonly maxBytes: number;
    };

/** A message the broker sends a client besides data. @internal */
export type BrokerNotice =
  | { readonly k: 'ready' }
  | { readonly k: 'bye' }
  | { readonly k: 'left' }
  | { readonly k: 'ack'; readonly n: number; readonly b: number };

/**
 * What a subscriber tells the broker: its reader took `n` messages of `b` bytes (credits back),
 * or it leaves (the broker answers `left` once it sends it nothing more). @internal
 */
export type SubscriberNotice =
  | { readonly k: 'took'; readonly n: number; readonly b: number }
  | { readonly k: 'leave' };

/** A publisher's message, as it crosses the port. @internal */
export interface DataMessage {
  readonly t: string;
  readonly d: Uint8Array;
}

/** Acknowledgements sent at once when this many pile up, else at the end of the turn. */
const ACK_EVERY = 64;

interface PublisherLink {
  readonly port: MessagePort;
  /** Set for a publisher in this thread: acknowledged by call, not over its port. */
  readonly direct: DirectLink | undefined;
  acks: number;
  ackBytes: number;
  scheduled: boolean;
  closed: boolean;
}

interface SubscriberLink {
  readonly port: MessagePort;
  readonly state: TopicState;
  readonly group: Group | undefined;
  readonly maxMessages: number;
  readonly maxBytes: number;
  outstanding: number;
  outstandingBytes: number;
}

interface Group {
  readonly name: string;
  readonly members: SubscriberLink[];
  next: number;
}

interface Waiting {
  readonly from: PublisherLink;
  readonly bytes: Uint8Array;
}

interface TopicState {
  readonly topic: string;
  readonly fanOut: SubscriberLink[];
  readonly groups: Map<string, Group>;
  /** Messages waiting, in arrival order, for a subscriber to have room. */
  waiting: Waiting[];
  head: number;
}

let accept: (broker: ThreadsBroker, request: LinkRequest) => void;

/**
 * The coordinator of the worker-threads shim. Made in one thread (usually the main thread), it
 * routes every message: publishers and subscribers in any thread of the process connect to it
 * over their own `MessagePort` (the broker itself in its thread, a {@link ThreadsBrokerHandle}
 * elsewhere), and it hands each message to every subscriber of the topic (fan-out) and to one
 * member of each group (competing consumers), in the order each publisher sent them.
 *
 * **Backpressure.** Each subscriber grants credits (`maxBufferedMessages`, `maxBufferedBytes`);
 * the broker never sends it more than it has room for, holds messages of a topic while one of its
 * subscribers (or every member of one of its groups) is full, and acknowledges a message to its
 * publisher only once delivered, so a publisher's bounded window (`maxInFlightMessages`) makes
 * `send` wait. Memory stays bounded; nothing is dropped.
 *
 * The broker's thread forwards every message (two port hops: publisher → broker → subscriber;
 * one for a publisher in the broker's own thread, which hands its messages to the broker by
 * function call), so keep it responsive: a main thread that blocks stalls the traffic of every
 * worker. It opens no
 * handle that keeps its thread alive: the ports of publishers and subscribers do that on their
 * own side. Not persistent: a message sent to a topic nobody subscribes to is dropped.
 *
 * @example
 * ```ts
 * await using broker = await ThreadsBroker.create();
 * const handle = broker.handle();
 * const worker = new Worker(url, { workerData: { broker: handle }, transferList: [handle.port] });
 * // in the worker:
 * const publisher = await ThreadsPublisher.create({ connection: workerData.broker });
 * ```
 */
export class ThreadsBroker implements AsyncDisposable {
  /** What the shim guarantees; see {@link threadsCapabilities}. */
  readonly capabilities: Capabilities = threadsCapabilities;
  readonly #topics = new Map<string, TopicState>();
  readonly #publishers = new Set<PublisherLink>();
  readonly #subscribers = new Set<SubscriberLink>();
  readonly #controls = new Set<MessagePort>();
  #closed = false;

  static {
    accept = (broker, request) => broker.#accept(request);
  }

  /**
   * A new broker in the calling thread.
   *
   * @example
   * ```ts
   * await using broker = await ThreadsBroker.create();
   * ```
   */
  static async create(): Promise<ThreadsBroker> {
    return new ThreadsBroker();
  }

  private constructor() {}

  /**
   * A new {@link ThreadsBrokerHandle} for one other thread: transfer its port with it
   * (`transferList: [handle.port]`). Each thread needs its own handle; a handle serves any number
   * of publishers and subscribers there.
   * @throws {@link ClosedError} after {@link close}.
   */
  handle(): ThreadsBrokerHandle {
    if (this.#closed) throw new ClosedError('ThreadsBroker');
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (request: LinkRequest) => this.#accept(request));
    port1.on('close', () => this.#controls.delete(port1));
    port1.unref();
    this.#controls.add(port1);
    return Object.freeze({ type: 'proxystream.threads-broker', version: 1, port: port2 });
  }

  /** Publishers and subscribers connected now, in every thread. */
  get connections(): { readonly publishers: number; readonly subscribers: number } {
    return { publishers: this.#publishers.size, subscribers: this.#subscribers.size };
  }

  /**
   * Disconnects every publisher and subscriber (subscribers end their iteration, later sends
   * reject with `ClosedError`) and every handle. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of [...this.#publishers, ...this.#subscribers]) {
      link.port.postMessage({ k: 'bye' } satisfies BrokerNotice);
      link.port.close();
    }
    for (const port of this.#controls) port.close();
    this.#publishers.clear();
    this.#subscribers.clear();
    this.#controls.clear();
    this.#topics.clear();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Same as {@link close}; lets `await using` close the broker. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #accept(request: LinkRequest): void {
    const port = request?.port;
    if (!(port instanceof MessagePort)) return;
    if (this.#closed) {
      port.close();
      return;
    }
    if (request.k === 'pub') this.#addPublisher(port, request.direct);
    else if (request.k === 'sub') this.#addSubscriber(request, port);
    else port.close();
  }

  #addPublisher(port: MessagePort, direct: DirectLink | undefined): void {
    const link: PublisherLink = {
      port,
      direct,
      acks: 0,
      ackBytes: 0,
      scheduled: false,
      closed: false,
    };
    this.#publishers.add(link);
    if (direct !== undefined) {
      direct.route = (topic, bytes, ownership) => {
        if (link.closed || this.#closed) return false;
        this.#take(link, topic, bytes, ownership);
        return true;
      };
    }
    port.on('message', (message: DataMessage) => this.#route(link, message));
    port.on('close', () => {
      link.closed = true;
      this.#publishers.delete(link);
    });
    port.unref();
    port.postMessage({ k: 'ready' } satisfies BrokerNotice);
  }

  #addSubscriber(request: Extract<LinkRequest, { k: 'sub' }>, port: MessagePort): void {
    const state = this.#state(request.topic);
    let group: Group | undefined;
    if (request.group !== undefined) {
      group = state.groups.get(request.group);
      if (group === undefined) {
        group = { name: request.group, members: [], next: 0 };
        state.groups.set(request.group, group);
      }
    }
    const link: SubscriberLink = {
      port,
      state,
      group,
      maxMessages: request.maxMessages,
      maxBytes: request.maxBytes,
      outstanding: 0,
      outstandingBytes: 0,
    };
    if (group === undefined) state.fanOut.push(link);
    else group.members.push(link);
    this.#subscribers.add(link);
    port.on('message', (notice: SubscriberNotice) => {
      if (notice.k === 'took') {
        link.outstanding -= notice.n;
        link.outstandingBytes -= notice.b;
        this.#drain(state);
      } else if (notice.k === 'leave') {
        this.#removeSubscriber(link);
        port.postMessage({ k: 'left' } satisfies BrokerNotice);
      }
    });
    port.on('close', () => this.#removeSubscriber(link));
    port.unref();
    port.postMessage({ k: 'ready' } satisfies BrokerNotice);
  }

  #removeSubscriber(link: SubscriberLink): void {
    if (!this.#subscribers.delete(link)) return;
    const state = link.state;
    const list = link.group?.members ?? state.fanOut;
    list.splice(list.indexOf(link), 1);
    if (link.group !== undefined && link.group.members.length === 0) {
      state.groups.delete(link.group.name);
    }
    if (state.fanOut.length === 0 && state.groups.size === 0) {
      // Nobody left to deliver to: what waited is dropped (not persistent) and acknowledged.
      for (let i = state.head; i < state.waiting.length; i++) {
        const waiting = state.waiting[i]!;
        this.#ack(waiting.from, waiting.bytes.byteLength);
      }
      this.#topics.delete(state.topic);
      return;
    }
    this.#drain(state);
  }

  /** A message that came over a publisher's port: the broker owns its bytes. */
  #route(from: PublisherLink, message: DataMessage): void {
    const bytes = message?.d;
    if (typeof message?.t !== 'string' || !(bytes instanceof Uint8Array)) return;
    this.#take(from, message.t, bytes, 'given');
  }

  /**
   * Delivers `bytes` now when nothing of the topic waits and every recipient has room, else keeps
   * it in the topic's queue as its {@link Ownership} says: as it is, moved off the sender's
   * `ArrayBuffer`, or as a copy.
   */
  #take(from: PublisherLink, topic: string, bytes: Uint8Array, ownership: Ownership): void {
    const state = this.#topics.get(topic);
    if (state === undefined) {
      this.#ack(from, bytes.byteLength);
      return;
    }
    if (state.head === state.waiting.length && this.#canDeliver(state, bytes.byteLength)) {
      this.#deliver(state, bytes, ownership !== 'borrowed');
      this.#ack(from, bytes.byteLength);
      return;
    }
    const kept =
      ownership === 'given' ? bytes : ownership === 'moved' ? detached(bytes) : bytes.slice();
    state.waiting.push({ from, bytes: kept });
  }

  /** Delivers what waits on `state` while every recipient has room. */
  #drain(state: TopicState): void {
    const waiting = state.waiting;
    while (state.head < waiting.length) {
      const next = waiting[state.head]!;
      if (!this.#canDeliver(state, next.bytes.byteLength)) break;
      waiting[state.head] = undefined as unknown as Waiting;
      state.head++;
      this.#deliver(state, next.bytes);
      this.#ack(next.from, next.bytes.byteLength);
    }
    if (state.head === waiting.length) {
      state.waiting = [];
      state.head = 0;
    } else if (state.head > 1024 && state.head * 2 > waiting.length) {
      state.waiting = waiting.slice(state.head);
      state.head = 0;
    }
  }

  #canDeliver(state: TopicState, size: number): boolean {
    for (const link of state.fanOut) if (!hasRoom(link, size)) return false;
    for (const group of state.groups.values()) {
      if (!group.members.some((member) => hasRoom(member, size))) return false;
    }
    return true;
  }

  /**
   * Sends `bytes` to every fan-out subscriber and one member of each group; moves it to the last
   * when `owned` (the broker's own bytes), else every recipient gets a copy.
   */
  #deliver(state: TopicState, bytes: Uint8Array, owned = true): void {
    const size = bytes.byteLength;
    // Without groups (the common case) the recipients are the fan-out list itself: no allocation.
    const targets: SubscriberLink[] = state.groups.size === 0 ? state.fanOut : [...state.fanOut];
    for (const group of state.groups.values()) {
      const members = group.members;
      for (let i = 0; i < members.length; i++) {
        const member = members[(group.next + i) % members.length]!;
        if (hasRoom(member, size)) {
          group.next = (group.next + i + 1) % members.length;
          targets.push(member);
          break;
        }
      }
    }
    const last = targets.length - 1;
    for (let i = 0; i <= last; i++) {
      const link = targets[i]!;
      link.outstanding++;
      link.outstandingBytes += size;
      // The broker owns the bytes it received: the last recipient gets them moved, not copied.
      if (i === last && owned && ownsWholeBuffer(bytes)) postMoved(link.port, bytes);
      else link.port.postMessage(bytes);
    }
  }

  #ack(link: PublisherLink, bytes: number): void {
    if (link.closed) return;
    if (link.direct !== undefined) {
      link.direct.acknowledged(1, bytes);
      return;
    }
    link.acks++;
    link.ackBytes += bytes;
    if (link.acks >= ACK_EVERY) this.#flushAcks(link);
    else if (!link.scheduled) {
      link.scheduled = true;
      setImmediate(() => this.#flushAcks(link));
    }
  }

  #flushAcks(link: PublisherLink): void {
    link.scheduled = false;
    if (link.closed || link.acks === 0) return;
    link.port.postMessage({ k: 'ack', n: link.acks, b: link.ackBytes } satisfies BrokerNotice);
    link.acks = 0;
    link.ackBytes = 0;
  }

  #state(topic: string): TopicState {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      state = { topic, fanOut: [], groups: new Map(), waiting: [], head: 0 };
      this.#topics.set(topic, state);
    }
    return state;
  }
}

function hasRoom(link: SubscriberLink, size: number): boolean {
  if (link.outstanding === 0) return true;
  return link.outstanding < link.maxMessages && link.outstandingBytes + size <= link.maxBytes;
}

/** Posts `bytes` moving its buffer; copied instead when the buffer is marked untransferable. */
function postMoved(port: MessagePort, bytes: Uint8Array<ArrayBuffer>): void {
  try {
    port.postMessage(bytes, [bytes.buffer]);
  } catch {
    port.postMessage(bytes);
  }
}

/**
 * `bytes` on a buffer of its own that the sender no longer holds: its `ArrayBuffer` moved (the
 * sender's is detached) when it views the whole of a transferable one, else a copy.
 */
function detached(bytes: Uint8Array): Uint8Array {
  if (ownsWholeBuffer(bytes)) {
    try {
      return structuredClone(bytes, { transfer: [bytes.buffer] });
    } catch {
      // Marked untransferable: copied below.
    }
  }
  return bytes.slice();
}

/** True when `bytes` views the whole of a plain (transferable) `ArrayBuffer`. @internal */
export function ownsWholeBuffer(bytes: Uint8Array): bytes is Uint8Array<ArrayBuffer> {
  const buffer = bytes.buffer;
  return (
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
  );
}

function isHandle(value: unknown): value is ThreadsBrokerHandle {
  const handle = value as ThreadsBrokerHandle | undefined;
  return (
    typeof handle === 'object' &&
    handle !== null &&
    handle.type === 'proxystream.threads-broker' &&
    handle.version === 1 &&
    handle.port instanceof MessagePort
  );
}

/** Options of {@link connectLink}. @internal */
export interface ConnectOptions {
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  readonly what: string;
}

/**
 * Sends `request` (holding the broker's end of the client's channel) to `connection` and waits for
 * the broker's `ready`, which the client's own listener resolves through `ready`. Rejects with
 * `ClosedError` when the broker is closed or its thread gone, `TimeoutError` after `timeoutMs`,
 * `AbortedError` when the signal aborts. @internal
 */
export async function connectLink(
  connection: ThreadsConnection,
  request: LinkRequest,
  ready: Promise<void>,
  options: ConnectOptions,
): Promise<void> {
  throwIfAborted(options.signal);
  if (connection instanceof ThreadsBroker) {
    if (connection.closed) throw new ClosedError('ThreadsBroker');
    accept(connection, request);
  } else if (isHandle(connection)) {
    // The handle's port only sends: without a listener it keeps no thread alive.
    connection.port.postMessage(request, [request.port]);
  } else {
    throw new InvalidArgumentError(
      `${options.what}: connection must be a ThreadsBroker or a handle from broker.handle()`,
    );
  }
  await abortable(
    withTimeout(ready, options.timeoutMs, `${options.what} connecting`),
    options.signal,
  );
}
