import { type EventBatch, SequenceGapError, type StreamEvent } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import {
  type Clock,
  type GapHandling,
  SequenceTracker,
  STREAM_ENDED,
} from '../src/sequence-tracker.js';

/** A clock that moves only when the test says so. */
class ManualClock implements Clock {
  time = 1_000_000;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  #nextId = 0;

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.time + ms, callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  advance(ms: number): void {
    this.time += ms;
    for (const [id, timer] of this.#timers) {
      if (timer.at > this.time) continue;
      this.#timers.delete(id);
      timer.callback();
    }
  }
}

function batch(
  sequence: number,
  options: { end?: boolean; topic?: string; producer?: string } = {},
) {
  const events: StreamEvent[] = [
    { type: 'new-object', metadata: {}, evict: false, body: { kind: 'live', value: sequence } },
  ];
  if (options.end) events.push({ type: 'end-of-stream' });
  const result: EventBatch = {
    topic: options.topic ?? 't',
    producerId: options.producer ?? 'p',
    sequence,
    events,
  };
  return result;
}

function tracker(
  options: {
    lateWaitMs?: number;
    onGap?: GapHandling;
    minProducers?: number;
    topics?: string[];
  } = {},
) {
  const clock = new ManualClock();
  const gaps: SequenceGapError[] = [];
  const sequences = new SequenceTracker({
    lateWaitMs: options.lateWaitMs ?? 0,
    onGap: options.onGap ?? ((gap) => gaps.push(gap)),
    minProducers: options.minProducers ?? 1,
    expectedTopics: options.topics,
    clock,
  });
  return { clock, gaps, sequences };
}

const span = (gap: SequenceGapError) => [gap.expected, gap.received];

describe('SequenceTracker', () => {
  it('reports a jump in the sequence at once when it does not wait for late batches', () => {
    const { sequences, gaps } = tracker();
    expect(sequences.track(batch(0))).toBeUndefined();
    expect(sequences.track(batch(3))).toBeUndefined();
    expect(gaps.map(span)).toEqual([[1, 3]]);
    expect(gaps[0]!.missing).toBe(2);
  });

  it("with onGap 'error' hands the gap back, to be thrown after the batch that revealed it", () => {
    const { sequences } = tracker({ onGap: 'error' });
    sequences.track(batch(0));
    const gap = sequences.track(batch(2));
    expect(gap).toBeInstanceOf(SequenceGapError);
    expect(span(gap!)).toEqual([1, 2]);
  });

  it('skips a duplicate (null) and reports it; with onGap error it throws', () => {
    const { sequences, gaps } = tracker();
    sequences.track(batch(0));
    sequences.track(batch(1));
    expect(sequences.track(batch(1))).toBeNull();
    expect(gaps.map(span)).toEqual([[2, 1]]);

    const strict = tracker({ onGap: 'error' }).sequences;
    strict.track(batch(0));
    expect(() => strict.track(batch(0))).toThrow(SequenceGapError);
  });

  it('a late batch arriving within the wait fills its hole and nothing is reported', () => {
    const { sequences, gaps, clock } = tracker({ lateWaitMs: 1_000 });
    sequences.track(batch(0));
    expect(sequences.track(batch(2))).toBeUndefined();
    expect(sequences.waiting).toBe(1);
    expect(sequences.wakeAt()).toBe(clock.time + 1_000);
    clock.advance(999);
    sequences.reportOverdue();
    expect(gaps).toEqual([]);
    expect(sequences.track(batch(1))).toBeUndefined();
    expect(sequences.waiting).toBe(0);
    expect(sequences.wakeAt()).toBeUndefined();
    clock.advance(10_000);
    sequences.reportOverdue();
    expect(gaps).toEqual([]);
  });

  it('a hole still open at its deadline is reported; the batch arriving after it is still delivered', () => {
    const { sequences, gaps, clock } = tracker({ lateWaitMs: 1_000 });
    sequences.track(batch(0));
    sequences.track(batch(3));
    clock.advance(1_000);
    sequences.reportOverdue();
    expect(gaps.map(span)).toEqual([[1, 3]]);
    expect(sequences.waiting).toBe(0);
    // Past the deadline: not a duplicate, it fills the reported hole without a second report.
    expect(sequences.track(batch(1))).toBeUndefined();
    expect(gaps).toHaveLength(1);
  });

  it('reportOverdue throws the first overdue gap with onGap error', () => {
    const { sequences, clock } = tracker({ lateWaitMs: 50, onGap: 'error' });
    sequences.track(batch(0));
    sequences.track(batch(2));
    clock.advance(50);
    expect(() => sequences.reportOverdue()).toThrow(SequenceGapError);
    expect(sequences.waiting).toBe(0);
  });

  it('at the end of stream, holes below the first batch seen are reported when nothing waits', () => {
    const { sequences, gaps } = tracker();
    sequences.track(batch(5));
    sequences.track(batch(3));
    expect(sequences.wakeAt()).toBeUndefined();
    sequences.track(batch(6, { end: true }));
    expect(gaps.map((gap) => [gap.expected, gap.missing])).toEqual([[4, 1]]);
    expect(sequences.wakeAt()).toBe(STREAM_ENDED);
  });

  it('at the end of stream with holes, it waits for them, reports those that do not come, then lingers for older batches', () => {
    const { sequences, gaps, clock } = tracker({ lateWaitMs: 200 });
    const start = clock.time;
    sequences.track(batch(5));
    sequences.track(batch(3));
    sequences.track(batch(6, { end: true }));
    expect(gaps).toEqual([]);
    expect(sequences.wakeAt()).toBe(start + 200);
    clock.advance(200);
    sequences.reportOverdue();
    expect(gaps.map((gap) => [gap.expected, gap.missing])).toEqual([[4, 1]]);
    // The first batch seen was not 0: the consumer may have taken over, so it lingers once.
    expect(sequences.wakeAt()).toBe(clock.time + 200);
    clock.advance(200);
    expect(sequences.wakeAt()).toBe(STREAM_ENDED);
  });

  it('ends only when every expected topic has its producers ended', () => {
    const { sequences } = tracker({ topics: ['a', 'b'], minProducers: 2 });
    sequences.track(batch(0, { topic: 'a', producer: 'p1', end: true }));
    sequences.track(batch(0, { topic: 'b', producer: 'p1', end: true }));
    expect(sequences.allEnded()).toBe(false);
    sequences.track(batch(0, { topic: 'a', producer: 'p2', end: true }));
    sequences.track(batch(0, { topic: 'b', producer: 'p2' }));
    expect(sequences.wakeAt()).toBeUndefined();
    sequences.track(batch(1, { topic: 'b', producer: 'p2', end: true }));
    expect(sequences.wakeAt()).toBe(STREAM_ENDED);
  });
});
