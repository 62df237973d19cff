import { type EventBatch, SequenceGapError } from '@proxystream/protocols';

/**
 * What to do when a producer's sequence on a topic jumps (batches lost) or goes back (a
 * duplicate, which is skipped; a batch that fills an earlier hole — a redelivery arriving after
 * later batches — is delivered, not skipped): `'error'` rejects the pending `next()` with
 * {@link SequenceGapError} (iteration can go on: after a gap the batch that revealed it is
 * delivered next), `'ignore'` says nothing, a function is called and iteration goes on.
 */
export type GapHandling = 'error' | 'ignore' | ((error: SequenceGapError) => void);

/** Handle of a timer started by a {@link Clock}. */
export type TimerHandle = unknown;

/**
 * Time as the consumer sees it: injected so that the late-batch logic is tested without real
 * sleeps. {@link systemClock} is `Date.now` and `setTimeout`.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once, `ms` milliseconds from now. */
  setTimer(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer of {@link setTimer}; cancelling one that fired is harmless. */
  clearTimer(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: Date.now,
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Options of {@link SequenceTracker}. */
export interface SequenceTrackerOptions {
  /** See `StreamConsumerOptions.lateBatchWaitMs`: how long a missing batch may take to arrive. */
  lateWaitMs: number;
  /** See `StreamConsumerOptions.onGap`. */
  onGap: GapHandling;
  /** Topics that must end before the stream ends; default: every topic seen. */
  expectedTopics?: readonly string[];
  /** Producers each topic waits for. */
  minProducers: number;
  /** Default {@link systemClock}. */
  clock?: Clock;
  /** Sees every gap and duplicate before `onGap` handles it (the consumer's metrics). */
  observe?: (error: SequenceGapError) => void;
}

interface ProducerProgress {
  /** Sequence expected next (one past the highest seen). */
  next: number;
  /** Lowest sequence seen: the consumer may have joined the stream after it began. */
  low: number;
  /**
   * Sequences below `next` not received yet, mapped to {@link REPORTED}, {@link AT_END} or the
   * time (ms since the epoch) their absence is reported at. Acknowledging brokers deliver a batch
   * again after later ones (redelivery, claiming); such a batch fills its hole instead of being
   * taken for a duplicate.
   */
  missing: Map<number, number>;
  ended: boolean;
}

interface TopicProgress {
  readonly producers: Map<string, ProducerProgress>;
  /** Announced producers that have not ended yet. */
  open: number;
}

/** A hole that was reported; a finite positive value is the time it is reported at, if still open. */
const REPORTED = 0;
/** A hole reported only once its producer's stream has ended without it. */
const AT_END = Number.POSITIVE_INFINITY;

/** Largest hole whose batches are remembered one by one, and most remembered per producer. */
const MAX_TRACKED_HOLE = 4096;
const MAX_TRACKED_MISSING = 65_536;

/** What {@link SequenceTracker.wakeAt} answers once every topic has ended and nothing is awaited. */
export const STREAM_ENDED = -1;

/** Remembers the sequences `from` … `to − 1` as missing; returns how many were remembered. */
function remember(missing: Map<number, number>, from: number, to: number, state: number): number {
  if (to - from > MAX_TRACKED_HOLE) return 0;
  let count = 0;
  for (let sequence = from; sequence < to && missing.size < MAX_TRACKED_MISSING; sequence++) {
    missing.set(sequence, state);
    count++;
  }
  return count;
}

function isDeadline(state: number): boolean {
  return state !== REPORTED && state !== AT_END;
}

/**
 * The consumer's book of every producer's sequence on every topic: which batches are
 * duplicates, which holes are lost (at once, or after `lateWaitMs` when the broker may still
 * deliver them late), and when the stream has ended.
 */
export class SequenceTracker {
  readonly clock: Clock;
  readonly #lateWaitMs: number;
  readonly #onGap: GapHandling;
  readonly #observe: ((error: SequenceGapError) => void) | undefined;
  readonly #expectedTopics: readonly string[] | undefined;
  readonly #minProducers: number;
  readonly #progress = new Map<string, TopicProgress>();
  /** Holes waiting for their batches under a deadline (see {@link ProducerProgress.missing}). */
  #waiting = 0;
  /** No waiting hole is reported before this time (it may be early after a hole filled: harmless). */
  #nextDeadline = Number.POSITIVE_INFINITY;
  /**
   * End of the wait, once every topic ended, for batches older than the first one seen of a
   * producer (see {@link #joinedLate}); set once.
   */
  #lingerUntil: number | undefined;

  constructor(options: SequenceTrackerOptions) {
    this.clock = options.clock ?? systemClock;
    this.#lateWaitMs = options.lateWaitMs;
    this.#onGap = options.onGap;
    this.#observe = options.observe;
    this.#expectedTopics = options.expectedTopics;
    this.#minProducers = options.minProducers;
  }

  /** Holes whose batches may still arrive before their deadline. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Until when the consumer may wait for the subscriber: the earliest deadline of a waiting hole,
   * or the end of the wait for late batches once every topic ended; `undefined` for no limit;
   * {@link STREAM_ENDED} when the stream is over.
   */
  wakeAt(): number | undefined {
    if (this.#waiting > 0) return this.#nextDeadline;
    if (!this.allEnded()) return undefined;
    const now = this.clock.now();
    if (this.#lingerUntil === undefined && this.#lateWaitMs > 0 && this.#joinedLate()) {
      this.#lingerUntil = now + this.#lateWaitMs;
    }
    if (this.#lingerUntil === undefined || now >= this.#lingerUntil) return STREAM_ENDED;
    return this.#lingerUntil;
  }

  /**
   * Updates the sequence and end-of-stream state for `batch`. Returns `null` to skip it (a
   * duplicate), a gap error to throw after installing it, or `undefined`.
   * @throws {@link SequenceGapError} for a duplicate when gaps are handled with `'error'`.
   */
  track(batch: EventBatch): SequenceGapError | null | undefined {
    let topic = this.#progress.get(batch.topic);
    if (topic === undefined) {
      topic = { producers: new Map(), open: 0 };
      this.#progress.set(batch.topic, topic);
    }
    let producer = topic.producers.get(batch.producerId);
    if (producer === undefined) {
      producer = { next: batch.sequence, low: batch.sequence, missing: new Map(), ended: false };
      topic.producers.set(batch.producerId, producer);
      topic.open++;
    }
    const sequence = batch.sequence;
    let error: SequenceGapError | undefined;
    if (sequence >= producer.next) {
      if (sequence > producer.next) {
        const hole = sequence - producer.next;
        if (this.#lateWaitMs > 0 && hole <= MAX_TRACKED_HOLE) {
          // Maybe lost in transit: the broker delivers it again; report it if it does not come.
          this.#awaitHole(producer, producer.next, sequence);
        } else {
          error = new SequenceGapError(batch.topic, batch.producerId, producer.next, sequence);
          remember(producer.missing, producer.next, sequence, REPORTED);
        }
      }
      producer.next = sequence + 1;
    } else if (sequence < producer.low) {
      // Older than anything seen: delivered late (or the consumer joined mid-stream). The batches
      // between it and the oldest seen exist too; they are reported if the stream ends without them.
      if (producer.ended && this.#lateWaitMs > 0) {
        // Its end of stream came already: the batches in between get the usual wait.
        this.#awaitHole(producer, sequence + 1, producer.low);
      } else {
        remember(producer.missing, sequence + 1, producer.low, AT_END);
      }
      producer.low = sequence;
    } else if (producer.missing.has(sequence)) {
      if (isDeadline(producer.missing.get(sequence)!) && --this.#waiting === 0) {
        this.#nextDeadline = Number.POSITIVE_INFINITY;
      }
      producer.missing.delete(sequence);
    } else {
      const duplicate = new SequenceGapError(
        batch.topic,
        batch.producerId,
        producer.next,
        sequence,
      );
      this.#observe?.(duplicate);
      const handling = this.#onGap;
      if (handling === 'error') throw duplicate;
      if (handling !== 'ignore') handling(duplicate);
      return null;
    }
    if (!producer.ended) {
      for (const event of batch.events) {
        if (event.type === 'end-of-stream') {
          producer.ended = true;
          topic.open--;
          error ??= this.#unreportedHole(batch, producer);
          break;
        }
      }
    }
    if (error === undefined) return undefined;
    this.#observe?.(error);
    const handling = this.#onGap;
    if (handling === 'error') return error;
    if (handling !== 'ignore') handling(error);
    return undefined;
  }

  /**
   * Reports, through `onGap`, every hole whose deadline has passed (throws the first for
   * `'error'`); does nothing before the earliest deadline.
   */
  reportOverdue(): void {
    if (this.#waiting === 0) return;
    const now = this.clock.now();
    if (now < this.#nextDeadline) return;
    try {
      this.#reportHolesDue(now);
    } finally {
      this.#nextDeadline = this.#earliestDeadline();
      // Defensive: a count out of step with the holes must not turn into a busy loop.
      if (this.#nextDeadline === Number.POSITIVE_INFINITY) this.#waiting = 0;
    }
  }

  /** Whether every expected topic (or, without a list, every topic seen) has ended. */
  allEnded(): boolean {
    const expected = this.#expectedTopics;
    if (expected !== undefined) {
      for (const name of expected) if (!this.#topicEnded(this.#progress.get(name))) return false;
      return true;
    }
    if (this.#progress.size === 0) return false;
    for (const topic of this.#progress.values()) if (!this.#topicEnded(topic)) return false;
    return true;
  }

  /**
   * At a producer's end of stream: the batches known to exist that never came and wait for the
   * end. Reported now, or given until the late-batch deadline when the consumer waits for them.
   */
  #unreportedHole(batch: EventBatch, producer: ProducerProgress): SequenceGapError | undefined {
    const wait = this.#lateWaitMs;
    const deadline = this.clock.now() + wait;
    let first = -1;
    let count = 0;
    for (const [sequence, state] of producer.missing) {
      if (state !== AT_END) continue;
      if (wait > 0) {
        producer.missing.set(sequence, deadline);
        this.#waiting++;
        this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
        continue;
      }
      producer.missing.set(sequence, REPORTED);
      if (first === -1 || sequence < first) first = sequence;
      count++;
    }
    if (count === 0) return undefined;
    return new SequenceGapError(batch.topic, batch.producerId, first, first + count);
  }

  /** Remembers the sequences `from` … `to − 1` as missing, to be reported if not there within the wait. */
  #awaitHole(producer: ProducerProgress, from: number, to: number): void {
    const deadline = this.clock.now() + this.#lateWaitMs;
    this.#waiting += remember(producer.missing, from, to, deadline);
    this.#nextDeadline = Math.min(this.#nextDeadline, deadline);
  }

  #reportHolesDue(now: number): void {
    for (const [topic, progress] of this.#progress) {
      for (const [producerId, producer] of progress.producers) {
        let first = -1;
        let count = 0;
        for (const [sequence, state] of producer.missing) {
          if (!isDeadline(state) || state > now) continue;
          producer.missing.set(sequence, REPORTED);
          this.#waiting--;
          if (first === -1 || sequence < first) first = sequence;
          count++;
        }
        if (count === 0) continue;
        const error = new SequenceGapError(topic, producerId, first, first + count);
        this.#observe?.(error);
        const handling = this.#onGap;
        if (handling === 'error') throw error;
        if (handling !== 'ignore') handling(error);
      }
    }
  }

  /**
   * Whether the first batch seen of some producer was not its first (sequence 0): this consumer
   * may have taken over from one that died holding older batches, which an acknowledging broker
   * delivers again later. It may also have joined the stream late on purpose, so batches that
   * never come are not reported; but those that come within `lateBatchWaitMs` are delivered.
   */
  #joinedLate(): boolean {
    for (const progress of this.#progress.values()) {
      for (const producer of progress.producers.values()) if (producer.low > 0) return true;
    }
    return false;
  }

  /** The earliest time a waiting hole is reported at. */
  #earliestDeadline(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const progress of this.#progress.values()) {
      for (const producer of progress.producers.values()) {
        for (const state of producer.missing.values()) {
          if (isDeadline(state) && state < earliest) earliest = state;
        }
      }
    }
    return earliest;
  }

  #topicEnded(topic: TopicProgress | undefined): boolean {
    return topic !== undefined && topic.open === 0 && topic.producers.size >= this.#minProducers;
  }
}
