import type { Consumer, TopicPartitionOffsetAndMetadata } from 'kafkajs';

/**
 * How long the marks of a reader moving on gather before they are committed, in ms. A reader
 * that takes one message at a time (a producer with one send in flight) otherwise costs one
 * commit request per message; a crash repeats at most the messages of this last millisecond,
 * which at-least-once delivery allows. `flush` (ack, close) commits without waiting.
 */
export const COMMIT_GATHER_MS = 1;

/**
 * Commits, for one topic, the offsets of messages the caller has processed: marks gather for
 * {@link COMMIT_GATHER_MS}, one commit request is in flight at a time, and whatever is marked
 * meanwhile goes into the next one, so a reader costs at most a commit per round trip or per
 * millisecond rather than per message. Internal to the shim.
 */
export class OffsetCommitter {
  readonly #consumer: Consumer;
  readonly #topic: string;
  /** Per partition, the offset of the next message to process (what Kafka stores as committed). */
  readonly #processed = new Map<number, number>();
  readonly #committed = new Map<number, number>();
  #dirty = false;
  #running: Promise<void> | undefined;
  #lastError: unknown;
  /** Ends the wait of the marks gathering now, when one is under way. */
  #endGathering: (() => void) | undefined;
  /** A flush waits: the next commit goes without gathering. */
  #urgent = false;

  constructor(consumer: Consumer, topic: string) {
    this.#consumer = consumer;
    this.#topic = topic;
  }

  /** The error of the last failed commit, if any. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Records that every message of `partition` before `nextOffset` was processed, and commits soon. */
  mark(partition: number, nextOffset: number): void {
    this.#processed.set(partition, nextOffset);
    this.schedule();
  }

  /** Forgets a partition that was taken away: its offsets belong to another member now. */
  forget(partition: number): void {
    this.#processed.delete(partition);
    this.#committed.delete(partition);
  }

  /** Starts a commit of what is marked, unless one is running (which then commits again). */
  schedule(): void {
    this.#dirty = true;
    if (this.#running === undefined) this.#running = this.#run();
  }

  /** Resolves once no commit is running; true when everything marked is committed. */
  async settle(): Promise<boolean> {
    while (this.#running) await this.#running;
    return this.#uncommitted().length === 0;
  }

  /** Commits what is marked and resolves true when the broker stored it all. */
  async flush(): Promise<boolean> {
    this.#lastError = undefined;
    this.schedule();
    if (this.#endGathering === undefined) this.#urgent = true;
    else this.#endGathering();
    return this.settle();
  }

  /** Waits {@link COMMIT_GATHER_MS}, or until {@link flush} asks for the commit now. */
  #gather(): Promise<void> {
    if (this.#urgent) {
      this.#urgent = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#endGathering = undefined;
        resolve();
      };
      timer = setTimeout(done, COMMIT_GATHER_MS);
      this.#endGathering = done;
    });
  }

  #uncommitted(): TopicPartitionOffsetAndMetadata[] {
    const offsets: TopicPartitionOffsetAndMetadata[] = [];
    for (const [partition, offset] of this.#processed) {
      if (this.#committed.get(partition) !== offset) {
        offsets.push({ topic: this.#topic, partition, offset: String(offset) });
      }
    }
    return offsets;
  }

  async #run(): Promise<void> {
    try {
      while (this.#dirty) {
        // Gathers marks (and lets `#running` be assigned before a loop with nothing to do ends).
        await this.#gather();
        this.#dirty = false;
        const offsets = this.#uncommitted();
        if (offsets.length === 0) continue;
        try {
          await this.#consumer.commitOffsets(offsets);
          for (const { partition, offset } of offsets)
            this.#committed.set(partition, Number(offset));
        } catch (error) {
          // Not retried here: the next mark, ack() or close() commits again.
          this.#lastError = error;
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
