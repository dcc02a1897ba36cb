/**
 * The split-brain probe's judgement of its samples: a window is two servers writable at one moment,
 * shown by point samples only as a server seen writable before and after another one was.
 */
import { describe, expect, it } from 'vitest';
import {
  closedBracket,
  SplitBrainProbe,
  type WritableSample,
} from '../../../functions/sandbox/split-brain.js';

const T0 = 1_800_000_000;
const w = (router: string, server: number, at: number, writable = true): WritableSample => ({
  router,
  server,
  writable,
  at: T0 + at,
});

function probe(): SplitBrainProbe {
  return new SplitBrainProbe([], { user: 'u', password: 'p' });
}

describe('the split-brain probe', () => {
  it('opens a window when a server is seen writable before and after another one was', () => {
    const p = probe();
    p.judge([w('g1', 1, 0.0), w('g2', 1, 0.01)]);
    p.judge([w('g1', 1, 0.5), w('g2', 2, 0.3)]);
    expect(p.windows).toBe(1);
    expect(p.evidence[0]).toMatch(
      /^server 1 writable before and after server 2 was: g2->server 1 writable at .*, g2->server 2 writable at .*, g1->server 1 writable at /,
    );
  });

  it('counts a split brain that lasts many passes as one window, and a later one again', () => {
    const p = probe();
    for (let i = 0; i < 5; i++) p.judge([w('g1', 1, i), w('g2', 2, i + 0.1)]);
    expect(p.windows).toBe(1);
    p.judge([w('g1', 2, 5), w('g2', 2, 5.1)]);
    p.judge([w('g1', 2, 6), w('g2', 2, 6.1)]);
    for (let i = 7; i < 10; i++) p.judge([w('g1', 1, i), w('g2', 2, i + 0.1)]);
    expect(p.windows).toBe(2);
  });

  it('does not open one for a fence followed by a promotion that a slow pass saw out of step', () => {
    const p = probe();
    p.judge([w('g1', 1, 0), w('g2', 1, 0.02), w('g3', 1, 0.03)]);
    // g1 answered from server 1 before its fence; g2 and g3 from server 2 after its promotion.
    p.judge([w('g1', 1, 1.0), w('g2', 2, 2.4), w('g3', 2, 2.6)]);
    p.judge([w('g1', 1, 3.0, false), w('g2', 2, 3.1), w('g3', 2, 3.2)]);
    p.judge([w('g1', 2, 4.0), w('g2', 2, 4.1), w('g3', 2, 4.2)]);
    expect(p.windows).toBe(0);
    expect(p.unconfirmed).toBe(1);
    expect(p.unconfirmedEvidence[0]).toContain('g2->server 2 writable');
  });

  it('needs the server seen writable at both ends: a read-only sample between breaks the bracket', () => {
    const history = [w('g1', 1, 0), w('g1', 1, 1, false), w('g2', 2, 1.5), w('g1', 1, 2)];
    expect(closedBracket(history, [history[3]!])).toBeNull();
    const open = [w('g1', 1, 0), w('g2', 2, 1.5), w('g1', 1, 2)];
    expect(closedBracket(open, [open[2]!])?.map((s) => s.server)).toEqual([1, 2, 1]);
  });

  it('does not bracket over a long gap in which the server may have been fenced and opened again (a failback)', () => {
    const p = probe();
    p.judge([w('g1', 1, 0), w('g2', 1, 0.1)]);
    // The routers sent everything to server 2 for 10 s; then server 1 again.
    for (let i = 1; i <= 10; i++) p.judge([w('g1', 2, i), w('g2', 2, i + 0.1)]);
    p.judge([w('g1', 1, 11), w('g2', 1, 11.1)]);
    expect(p.windows).toBe(0);
  });
});
