import {
  AbortedError,
  type AcknowledgingSubscriber,
  BrokerError,
  type SubscribeOptions,
} from '@proxystream/protocols';
import { pause, positiveNumber, QueueSubscriber, settledWithin } from '@proxystream/protocols/kit';
import type { Redis, RedisOptions } from 'ioredis';
import {
  type ClientHandle,
  dedicatedClient,
  isCluster,
  isReplyError,
  type RedisClient,
  type RedisConnection,
  releaseClient,
  withoutCredentials,
} from './connection.js';
import { DEFAULT_FAILOVER_BUDGET_MS, retryAcrossFailover } from './failover.js';

/** Options shared by the subscribers that pull from a persistent Redis structure. */
export interface RedisPullSubscriberOptions extends SubscribeOptions {
  /**
   * Where to connect, or a client whose settings to copy: the subscriber always opens a
   * connection of its own (`duplicate()`) for its blocking reads, and closes it.
   * Default `redis://127.0.0.1:6379`.
   */
  connection?: RedisConnection;
  /**
   * Longest time one blocking read waits on the server, in ms. `close()` ends a pending iteration
   * at once, then waits for the read in flight (at most this long) so that a message it returns is
   * handed back rather than lost. A positive integer; default 100.
   */
  blockMs?: number;
  /**
   * On a Redis Cluster (a `Cluster` as `connection`): how long, in ms, an acknowledgement or a
   * hand-back that failed because the cluster is failing over is tried again before it counts
   * as failed. Reads are retried for as long as the subscriber is open. Default 30 000.
   * Ignored on a single server.
   */
  retryForMs?: number;
}

/** One message read from Redis, with the id under which it is acknowledged. */
export interface PulledMessage {
  readonly id: string;
  readonly data: Buffer;
}

// Server replies that mean "try again shortly" rather than "this can never work".
const TRANSIENT = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|MOVED|ASK)\b/;

function ignore(): void {}

/**
 * Longest time, in ms, that the acknowledgement of a message the caller moved past waits while
 * messages of the same read are still buffered, so that those moved past in quick succession go
 * out as one command. Once nothing is buffered they go out at once, before the next read.
 */
export const ACK_COALESCE_MS = 1;

/**
 * The read loop of the list-queue and Streams subscribers: reads on demand (only when the caller
 * waits for a message and none is buffered), and on close hands back every message read but not
 * acknowledged. A message counts as processed when the next one is asked for or {@link ack} is
 * called. Its acknowledgement is sent at once when nothing more is buffered (before the next
 * read, so the two share a round trip) and on {@link ack}; while messages of the same read are
 * still buffered it waits at most {@link ACK_COALESCE_MS}, so that the messages a fast caller moves
 * past are acknowledged in one command rather than one each (the raw client's loop acknowledges
 * once per read). Subclasses supply the three Redis operations.
 */
export abstract class PullSubscriber
  extends QueueSubscriber<PulledMessage>
  implements AcknowledgingSubscriber
{
  /** The topic read. */
  protected readonly topic: string;
  /** Longest blocking read, in ms. */
  protected readonly blockMs: number;
  readonly #what: string;
  readonly #handle: ClientHandle;
  /**
   * Read and not acknowledged, in read order: the first `#passed` were moved past by the caller
   * (processed, acknowledgement not sent yet), the `#yielded` after them were handed to the caller
   * and are being processed, the rest are buffered.
   */
  readonly #held: PulledMessage[] = [];
  readonly #heldIds = new Set<string>();
  #passed = 0;
  #yielded = 0;
  /** Sends the acknowledgement of the messages moved past while others are still buffered. */
  #ackTimer: NodeJS.Timeout | undefined;
  #wanted = false;
  #pump: Promise<void> | undefined;
  #acks: Promise<void> = Promise.resolve();
  #ackFailure: unknown;
  /** Retry budget across a failover, in ms; `undefined` on a single server (no retries). */
  readonly #retryForMs: number | undefined;

  /**
   * @param blockMs the checked {@link RedisPullSubscriberOptions.blockMs}: options are checked by
   * the subclass's `create` before anything is opened.
   */
  protected constructor(
    what: string,
    topic: string,
    options: RedisPullSubscriberOptions,
    blockMs: number,
    clientOptions: RedisOptions = {},
  ) {
    super({ signal: options.signal });
    this.#what = what;
    this.topic = topic;
    this.blockMs = blockMs;
    const budget = positiveNumber(options.retryForMs, 'retryForMs', DEFAULT_FAILOVER_BUDGET_MS);
    this.#handle = dedicatedClient(options.connection, clientOptions);
    this.#retryForMs = isCluster(this.#handle.client) ? budget : undefined;
  }

  /** Whether the subscriber reads from a Redis Cluster. */
  protected get onCluster(): boolean {
    return this.#retryForMs !== undefined;
  }

  /**
   * `command()`, retried across a failover on a cluster: for acknowledgements, so it must be
   * safe to run twice (a subclass builds the command once, outside `command`).
   */
  protected retried<T>(command: () => Promise<T>): Promise<T> {
    const budget = this.#retryForMs;
    return budget === undefined ? command() : retryAcrossFailover(command, budget);
  }

  /**
   * Calls `handler` whenever a connection of this subscriber closes: the client's own on a single
   * server; on a cluster, that of any node, now or added later (the node serving the topic may
   * change with a failover).
   */
  protected onConnectionLost(handler: () => void): void {
    const client = this.#handle.client;
    if (!isCluster(client)) {
      client.on('close', handler);
      return;
    }
    for (const node of client.nodes('all')) node.on('close', handler);
    client.on('+node', (node: Redis) => node.on('close', handler));
  }

  /** The subscriber's own connection. */
  protected get client(): RedisClient {
    return this.#handle.client;
  }

  /** The messages read and not acknowledged yet (acknowledgements in flight excluded), oldest first. */
  protected heldMessages(): readonly PulledMessage[] {
    return this.#held.slice();
  }

  /**
   * Resolves once every acknowledgement sent so far has settled: on a cluster one may be retried
   * after a later command, so a look at what Redis holds waits for it first.
   */
  protected acknowledgementsSettled(): Promise<void> {
    return this.#acks;
  }

  /** Whether the message `id` was read and is not acknowledged yet. */
  protected isHeld(id: string): boolean {
    return this.#heldIds.has(id);
  }

  /** Reads the next messages, waiting at most {@link blockMs}; `[]` when none came. */
  protected abstract fetch(): Promise<PulledMessage[]>;
  /** Marks `messages` (the oldest held) as processed. */
  protected abstract acknowledge(
    messages: readonly PulledMessage[],
    allHeld: boolean,
  ): Promise<unknown>;
  /** Hands `messages` back so that another subscriber gets them. */
  protected abstract handBack(messages: readonly PulledMessage[]): Promise<unknown>;
  /** Runs after the release, before the connection closes. */
  protected async finish(): Promise<void> {}

  /**
   * Closes the subscriber after a failed start and rethrows as {@link BrokerError}, or as
   * {@link AbortedError} when the signal aborted the start.
   */
  protected async failStart(error: unknown, signal: AbortSignal | undefined): Promise<never> {
    await this.close();
    if (signal?.aborted) throw new AbortedError();
    if (error instanceof BrokerError) throw error;
    throw new BrokerError(`${this.#what} for "${this.topic}" could not start: ${String(error)}`, {
      cause: withoutCredentials(error),
    });
  }

  /**
   * Ends the start of a subscriber whose signal aborted while it connected: closes it and throws
   * {@link AbortedError}. Does nothing otherwise.
   */
  protected async abortedStart(signal: AbortSignal | undefined): Promise<void> {
    if (!signal?.aborted) return;
    await this.close();
    throw new AbortedError();
  }

  /**
   * The next message, or `done` once closed. Asking for it marks the ones yielded before as
   * processed (acknowledged at once when nothing is buffered, else within {@link ACK_COALESCE_MS}).
   */
  override next(): Promise<IteratorResult<Uint8Array>> {
    this.#passed += this.#yielded;
    this.#yielded = 0;
    if (this.buffered === 0) {
      this.#acknowledgePassed();
      if (!this.closed) {
        this.#wanted = true;
        this.#pump ??= this.#run();
      }
    } else if (this.#passed > 0 && this.#ackTimer === undefined) {
      this.#ackTimer = setTimeout(() => this.#acknowledgePassed(), ACK_COALESCE_MS);
      this.#ackTimer.unref();
    }
    return super.next();
  }

  /** {@inheritDoc @proxystream/protocols#AcknowledgingSubscriber.ack} */
  async ack(): Promise<void> {
    this.#passed += this.#yielded;
    this.#yielded = 0;
    this.#acknowledgePassed();
    await this.#acks;
    const failure = this.#ackFailure;
    if (failure === undefined) return;
    this.#ackFailure = undefined;
    throw new BrokerError(
      `${this.#what}: acknowledging messages of "${this.topic}" failed; they will be delivered again: ${String(failure)}`,
      { cause: withoutCredentials(failure) },
    );
  }

  /**
   * Ends a pending iteration at once, then hands back the messages read but not acknowledged
   * and closes the connection. Safe to call twice.
   */
  override close(): Promise<void> {
    return super.close();
  }

  protected taken(message: PulledMessage): Uint8Array {
    this.#yielded++;
    return message.data;
  }

  /** Sends the acknowledgement of the messages the caller moved past, if any. */
  #acknowledgePassed(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#passed === 0) return;
    const done = this.#held.splice(0, this.#passed);
    this.#passed = 0;
    for (const message of done) this.#heldIds.delete(message.id);
    const settled = this.acknowledge(done, this.#held.length === 0).then(
      ignore,
      (error: unknown) => {
        this.#ackFailure ??= error;
      },
    );
    this.#acks = this.#acks.then(() => settled);
  }

  async #run(): Promise<void> {
    let failures = 0;
    try {
      while (this.#wanted && !this.closed) {
        let got: PulledMessage[];
        try {
          got = await this.fetch();
          failures = 0;
        } catch (error) {
          if (this.closed) return;
          if (isReplyError(error) && !TRANSIENT.test((error as Error).message)) {
            this.fail(
              new BrokerError(
                `${this.#what}: Redis refused to read "${this.topic}": ${String(error)}`,
                {
                  cause: withoutCredentials(error),
                },
              ),
            );
            return;
          }
          failures++;
          await pause(Math.min(50 * 2 ** failures, 1000));
          continue;
        }
        for (const message of got) {
          this.#held.push(message);
          this.#heldIds.add(message.id);
        }
        if (got.length === 0 || this.closed) continue;
        this.#wanted = false;
        for (const message of got) this.push(message);
      }
    } finally {
      this.#pump = undefined;
    }
  }

  /** Runs once on close: each step bounded, since shutdown must not hang on a server that is gone. */
  protected async release(): Promise<void> {
    this.#wanted = false;
    const pump = this.#pump;
    if (pump !== undefined) await settledWithin(pump, this.blockMs + 5_000);
    // What the caller moved past is acknowledged; what it was given last, and what is buffered,
    // is handed back.
    this.#acknowledgePassed();
    await settledWithin(this.#acks, 5_000);
    const held = this.#held.splice(0);
    this.#heldIds.clear();
    this.#yielded = 0;
    if (held.length > 0) await settledWithin(this.handBack(held), 5_000);
    await settledWithin(
      this.retried(() => this.finish()),
      5_000,
    );
    releaseClient(this.#handle);
  }
}
