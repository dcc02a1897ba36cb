import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatProgress, type ProgressReport, ProgressTracker } from '../../../functions/dump/progress.js';

describe('progress', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports rows, bytes, rate and ETA at intervals and a final summary', () => {
    vi.useFakeTimers({ now: 0 });
    const seen: ProgressReport[] = [];
    const p = new ProgressTracker('restore', 4, 1000, (r) => seen.push(r), 1000);
    p.rows = 250;
    p.bytes = 2 * 1048576;
    p.objectsDone = 1;
    vi.advanceTimersByTime(1000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      final: false,
      rows: 250,
      rowsPerS: 250,
      mbPerS: 2,
      rowsTotal: 1000,
      etaS: 3,
    });
    p.rows = 1000;
    p.objectsDone = 4;
    vi.advanceTimersByTime(1000);
    const last = p.finish();
    expect(last).toMatchObject({ final: true, rows: 1000, objectsDone: 4, etaS: 0 });
    expect(seen.at(-1)).toBe(last);
    vi.advanceTimersByTime(5000);
    expect(seen.filter((r) => r.final)).toHaveLength(1);
    expect(formatProgress(last)).toBe(
      'restore done: 4/4 objects, 1000/1000 rows, 2.0 MB in 2s (500 rows/s, 1 MB/s)',
    );
  });
});
