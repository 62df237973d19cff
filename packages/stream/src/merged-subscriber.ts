import {
  type AcknowledgingSubscriber,
  InvalidArgumentError,
  isAcknowledgingSubscriber,
  isSubscriber,
  type Subscriber,
} from '@proxystream/protocols';

/** The outcome of a source's read, tagged with the source it came from. */
type Outcome =
  | { index: number; result: IteratorResult<Uint8Array>; error?: undefined }
  | { index: number; result?: undefined; error: unknown };

/** A source's read in flight; it never rejects (a failure is its outcome). */
type Read = Promise<Outcome>;

/**
 * One {@link Subscriber} over several — one per topic, on any mix of shims — for a
 * `StreamConsumer` that reads several topics. Messages come in the order they arrive, each
 * topic's own order kept.
 *
 * Acknowledgements stay right: a source is asked for its next message (which, on an
 * acknowledging shim, acknowledges its previous one) only after the caller moved past the
 * message it yielded last, so a message that waits in the merge while another source's is being
 * processed is never acknowledged early; `ack()` acknowledges, on each acknowledging source,
 * what the caller was given from it. The merge acknowledges (has `ack` and `redeliveryMs`, the
 * longest of the sources') when any source does.
 *
 * An error of one source (a `MessagesLostError`, say) rejects the `next()` it happened in, and
 * iteration goes on. Iteration ends when every source has ended; `close()` closes them all.
 *
 * @example
 * ```ts
 * const subscriber = mergeSubscribers([await queue('frames'), await queue('labels')]);
 * const consumer = new StreamConsumer(subscriber, { topics: ['frames', 'labels'] });
 * ```
 */
export function mergeSubscribers(
  subscribers: readonly Subscriber[],
): Subscriber | AcknowledgingSubscriber {
  if (subscribers.length === 0) {
    throw new InvalidArgumentError('mergeSubscribers needs at least one subscriber');
  }
  for (const subscriber of subscribers) {
    if (!isSubscriber(subscriber)) {
      throw new InvalidArgumentError('mergeSubscribers takes byte Subscribers only');
    }
  }
  const merged = new MergedSubscriber(subscribers);
  if (!subscribers.some(isAcknowledgingSubscriber)) return merged.plain();
  return merged;
}

class MergedSubscriber implements AcknowledgingSubscriber {
  readonly redeliveryMs?: number;
  readonly #sources: readonly Subscriber[];
  readonly #iterators: AsyncIterator<Uint8Array>[];
  /** Per source: its read in flight, if any. */
  readonly #reads: (Read | undefined)[];
  readonly #ended: boolean[];
  /** Source the race starts at, rotated so that a busy source cannot starve the others. */
  #start = 0;
  #closing: Promise<void> | undefined;

  constructor(sources: readonly Subscriber[]) {
    this.#sources = sources;
    this.#iterators = sources.map((source) => source[Symbol.asyncIterator]());
    this.#reads = sources.map(() => undefined);
    this.#ended = sources.map(() => false);
    let redelivery: number | undefined;
    for (const source of sources) {
      const ms = isAcknowledgingSubscriber(source) ? source.redeliveryMs : undefined;
      if (ms !== undefined) redelivery = Math.max(redelivery ?? 0, ms);
    }
    if (redelivery !== undefined) this.redeliveryMs = redelivery;
  }

  /** The same merge without `ack`, for sources none of which acknowledges. */
  plain(): Subscriber {
    return {
      [Symbol.asyncIterator]: () => this[Symbol.asyncIterator](),
      close: () => this.close(),
      [Symbol.asyncDispose]: () => this.close(),
    };
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      if (this.#closing !== undefined) return { done: true, value: undefined };
      const racing: Read[] = [];
      const count = this.#sources.length;
      for (let k = 0; k < count; k++) {
        const index = (this.#start + k) % count;
        if (this.#ended[index]) continue;
        let read = this.#reads[index];
        if (read === undefined) {
          // The caller moved past this source's last message: asking for the next acknowledges it.
          read = this.#iterators[index]!.next().then(
            (result): Outcome => ({ index, result }),
            (error: unknown): Outcome => ({ index, error: error ?? new Error('read failed') }),
          );
          this.#reads[index] = read;
        }
        racing.push(read);
      }
      if (racing.length === 0) return { done: true, value: undefined };
      this.#start = (this.#start + 1) % count;
      const winner = await Promise.race(racing);
      this.#reads[winner.index] = undefined;
      if (winner.result === undefined) throw winner.error;
      if (winner.result.done === true) {
        this.#ended[winner.index] = true;
        continue;
      }
      return winner.result;
    }
  }

  /**
   * Acknowledges what the caller was given: on each acknowledging source not asked for another
   * message since (a source with a read in flight has acknowledged its last message already, and
   * one holding a message the caller has not seen must not acknowledge it).
   */
  async ack(): Promise<void> {
    const acks: Promise<void>[] = [];
    this.#sources.forEach((source, index) => {
      if (this.#reads[index] === undefined && isAcknowledgingSubscriber(source)) {
        acks.push(source.ack());
      }
    });
    await Promise.all(acks);
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#sources.map((source) => source.close())).then(
      () => undefined,
    );
    return this.#closing;
  }
}
