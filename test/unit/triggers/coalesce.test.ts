import { describe, expect, it } from 'vitest';
import { coveredByEarlierCycle } from '../../../functions/triggers/coalesce.js';

const stamped = Date.parse('2026-11-25T12:03:11Z');

describe('coalescing a burst of watcher events', () => {
  it('runs a cycle when none ran in this container yet', () => {
    expect(coveredByEarlierCycle(stamped, undefined)).toBe(false);
  });

  it('skips an event when a cycle started a whole second after its stamp (it arrived before that cycle)', () => {
    expect(coveredByEarlierCycle(stamped, stamped + 1_000)).toBe(true);
    expect(coveredByEarlierCycle(stamped, stamped + 60_000)).toBe(true);
  });

  it('runs a cycle when the last one started within the stamp second or before it (it may have looked before the death)', () => {
    expect(coveredByEarlierCycle(stamped, stamped + 999)).toBe(false);
    expect(coveredByEarlierCycle(stamped, stamped)).toBe(false);
    expect(coveredByEarlierCycle(stamped, stamped - 5_000)).toBe(false);
  });
});
