/**
 * The chaos loop's fault schedule is reproducible: the same seed gives the same faults with the same
 * parameters, every fault is drawn over enough rounds, and `only` restricts the draw.
 */
import { describe, expect, it } from 'vitest';
import { FAULTS, faultSchedule, median, prng } from '../../../functions/sandbox/chaos.js';

describe('chaos schedule', () => {
  it('gives the same faults and parameters for the same seed', () => {
    expect(faultSchedule(42, 50)).toEqual(faultSchedule(42, 50));
    expect(faultSchedule(42, 50)).not.toEqual(faultSchedule(43, 50));
  });

  it('draws every fault over 100 rounds', () => {
    const drawn = new Set(faultSchedule(1, 100).map((r) => r.fault));
    expect([...drawn].sort()).toEqual([...FAULTS].sort());
  });

  it('draws only the faults asked for', () => {
    const only = ['kill-replica', 'restart-router'] as const;
    for (const r of faultSchedule(9, 40, only)) expect(only).toContain(r.fault);
  });

  it('produces numbers in [0, 1) from the seeded generator', () => {
    const next = prng(7);
    const values = Array.from({ length: 1000 }, next);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(990);
  });

  it('takes the median of an odd and an even number of recovery times', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBe(0);
  });
});
