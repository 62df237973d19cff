import { InvalidArgumentError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { allOf, anyOf, metadataMatches, not, nullFilter, samplingFilter } from '../src/filters.js';

const drop = () => true;
const keep = () => false;

describe('filters', () => {
  it('nullFilter keeps everything', () => {
    expect(nullFilter({})).toBe(false);
    expect(nullFilter({ anything: 1 })).toBe(false);
  });

  it('samplingFilter drops with probability p, using the injected random source', () => {
    const values = [0.1, 0.5, 0.9];
    let i = 0;
    const filter = samplingFilter(0.5, { random: () => values[i++ % values.length]! });
    expect([filter({}), filter({}), filter({})]).toEqual([true, false, false]);
    expect(samplingFilter(0)({})).toBe(false);
    expect(samplingFilter(1)({})).toBe(true);
  });

  it('samplingFilter drops about p of the events with Math.random', () => {
    const filter = samplingFilter(0.25);
    let dropped = 0;
    for (let n = 0; n < 20_000; n++) if (filter({})) dropped++;
    expect(dropped / 20_000).toBeGreaterThan(0.22);
    expect(dropped / 20_000).toBeLessThan(0.28);
  });

  it('samplingFilter rejects p outside [0, 1] and NaN', () => {
    for (const p of [-0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => samplingFilter(p)).toThrow(InvalidArgumentError);
    }
  });

  it('allOf drops only when every filter drops; anyOf when any does; not inverts', () => {
    expect(allOf(drop, drop)({})).toBe(true);
    expect(allOf(drop, keep)({})).toBe(false);
    expect(allOf()({})).toBe(false);
    expect(anyOf(keep, drop)({})).toBe(true);
    expect(anyOf(keep, keep)({})).toBe(false);
    expect(anyOf()({})).toBe(false);
    expect(not(drop)({})).toBe(false);
    expect(not(keep)({})).toBe(true);
  });

  it('metadataMatches compares values deeply and calls predicates, absent keys included', () => {
    const filter = metadataMatches({ camera: 'left', box: { w: 2, tags: ['a'] } });
    expect(filter({ camera: 'left', box: { w: 2, tags: ['a'] }, other: 1 })).toBe(true);
    expect(filter({ camera: 'left', box: { w: 2, tags: ['b'] } })).toBe(false);
    expect(filter({ camera: 'right', box: { w: 2, tags: ['a'] } })).toBe(false);
    expect(filter({ box: { w: 2, tags: ['a'] } })).toBe(false);
    const early = metadataMatches({ frame: (f) => typeof f === 'number' && f < 10 });
    expect(early({ frame: 3 })).toBe(true);
    expect(early({ frame: 30 })).toBe(false);
    expect(early({})).toBe(false);
    expect(metadataMatches({ missing: (v) => v === undefined })({})).toBe(true);
  });

  it('not(metadataMatches(...)) keeps only the matching events', () => {
    const onlyLeft = not(metadataMatches({ camera: 'left' }));
    expect(onlyLeft({ camera: 'left' })).toBe(false);
    expect(onlyLeft({ camera: 'right' })).toBe(true);
  });

  it('metadataMatches does not treat inherited properties as metadata', () => {
    expect(metadataMatches({ toString: (v: unknown) => v !== undefined })({})).toBe(false);
  });
});
