import { describe, expect, it } from 'vitest';
import {
  decide,
  followerProgress,
  mastersPerEpoch,
  msSinceFirstScan,
  type OperationRow,
  type SignalRow,
  type View,
} from '../../../functions/election/rules.js';
import type { SignalName } from '../../../functions/election/schema.js';

const T0 = 1_800_000_000_000;
let nextId = 1;
function sig(epoch: number, s: SignalName, participant: string, value = participant, atMs = T0): SignalRow {
  return { id: nextId++, epoch, sig: s, value, participant, atMs };
}
function op(partial: Partial<OperationRow> = {}): OperationRow {
  return {
    epoch: 5,
    openedEpoch: 5,
    op: 'fail',
    master: null,
    openedBy: 'a',
    leaseExpired: false,
    leaseRemainingMs: 1500,
    ...partial,
  };
}
function view(operation: OperationRow | null, signals: SignalRow[] = []): View {
  return { operation, signals, dbNowMs: T0 };
}

describe('decide', () => {
  it('opens an operation when none exists and this call has not joined one', () => {
    expect(decide(view(null), 'a', null)).toEqual({ kind: 'open' });
  });

  it('reports the operation finished when the one it joined was removed', () => {
    expect(decide(view(null), 'a', { openedEpoch: 5 })).toEqual({ kind: 'finished' });
  });

  it('does not join a newer operation than the one it took part in', () => {
    expect(decide(view(op({ epoch: 9, openedEpoch: 9 })), 'a', { openedEpoch: 5 })).toEqual({
      kind: 'finished',
    });
  });

  it('follows a takeover epoch of the same operation', () => {
    expect(decide(view(op({ epoch: 6, openedEpoch: 5 })), 'a', { openedEpoch: 5 })).toEqual({
      kind: 'scan',
      epoch: 6,
    });
  });

  it('writes SCAN first, even when a master is already known', () => {
    expect(decide(view(op({ master: 'b' }), [sig(5, 'SCAN', 'b')]), 'a', null)).toEqual({
      kind: 'scan',
      epoch: 5,
    });
  });

  it('lets the first SCAN of the epoch claim the master role', () => {
    const first = sig(5, 'SCAN', 'a');
    const signals = [first, sig(5, 'SCAN', 'b')];
    expect(decide(view(op(), signals), 'a', null)).toEqual({ kind: 'claim', epoch: 5, scanId: first.id });
    expect(decide(view(op(), signals), 'b', null)).toEqual({ kind: 'wait-master', epoch: 5 });
  });

  it('ignores a SCAN from a stale epoch when deciding who is first', () => {
    const stale = sig(4, 'SCAN', 'b');
    const mine = sig(5, 'SCAN', 'a');
    expect(decide(view(op(), [stale, mine]), 'a', null)).toEqual({
      kind: 'claim',
      epoch: 5,
      scanId: mine.id,
    });
  });

  it('declares itself follower once another participant is master', () => {
    const signals = [sig(5, 'SCAN', 'b'), sig(5, 'SCAN', 'a'), sig(5, 'MAST', 'b')];
    expect(decide(view(op({ master: 'b' }), signals), 'a', null)).toEqual({ kind: 'folo', epoch: 5 });
  });

  it('waits for TARG after FOLO and then follows it', () => {
    const base = [sig(5, 'SCAN', 'b'), sig(5, 'SCAN', 'a'), sig(5, 'MAST', 'b'), sig(5, 'FOLO', 'a')];
    expect(decide(view(op({ master: 'b' }), base), 'a', null)).toEqual({
      kind: 'follow',
      epoch: 5,
      targ: null,
      masterDone: false,
    });
    const withTarg = [...base, sig(5, 'TARG', 'b', '10.0.0.2:3306')];
    expect(decide(view(op({ master: 'b' }), withTarg), 'a', null)).toEqual({
      kind: 'follow',
      epoch: 5,
      targ: '10.0.0.2:3306',
      masterDone: false,
    });
  });

  it('ignores a TARG written in a stale epoch or by someone who is not the master', () => {
    const signals = [
      sig(5, 'SCAN', 'b'),
      sig(5, 'SCAN', 'a'),
      sig(5, 'FOLO', 'a'),
      sig(4, 'TARG', 'b', '10.0.0.9:3306'),
      sig(5, 'TARG', 'c', '10.0.0.8:3306'),
    ];
    const step = decide(view(op({ master: 'b' }), signals), 'a', null);
    expect(step).toMatchObject({ kind: 'follow', targ: null });
  });

  it('is done as follower after its own FOOK of the current epoch only', () => {
    const signals = [sig(5, 'SCAN', 'b'), sig(5, 'SCAN', 'a'), sig(5, 'FOLO', 'a'), sig(4, 'FOOK', 'a')];
    expect(decide(view(op({ master: 'b' }), signals), 'a', null).kind).toBe('follow');
    signals.push(sig(5, 'FOOK', 'a'));
    expect(decide(view(op({ master: 'b' }), signals), 'a', null)).toEqual({
      kind: 'follower-done',
      epoch: 5,
    });
  });

  it('takes over when the lease expired, as decided by the server', () => {
    const signals = [sig(5, 'SCAN', 'b'), sig(5, 'SCAN', 'a'), sig(5, 'FOLO', 'a')];
    expect(decide(view(op({ master: 'b', leaseExpired: true }), signals), 'a', null)).toEqual({
      kind: 'takeover',
      epoch: 5,
    });
  });

  it('carries on as master when invoked again, even with an expired lease', () => {
    expect(decide(view(op({ master: 'a', leaseExpired: true })), 'a', null)).toEqual({
      kind: 'master',
      epoch: 5,
    });
  });
});

describe('followerProgress', () => {
  const base = () => [
    sig(5, 'SCAN', 'm', 'm', T0),
    sig(5, 'SCAN', 'f1', 'f1', T0 + 1),
    sig(5, 'SCAN', 'f2', 'f2', T0 + 2),
    sig(5, 'MAST', 'm', 'm', T0 + 3),
    sig(5, 'FOLO', 'f1', 'f1', T0 + 4),
  ];

  it('is not complete before MAOK, even when every follower is done', () => {
    const signals = [...base(), sig(5, 'FOOK', 'f1'), sig(5, 'FOOK', 'f2')];
    expect(followerProgress(signals, 5, 'm', T0 + 10, 1000).complete).toBe(false);
  });

  it('counts a follower that only wrote SCAN as pending', () => {
    const signals = [...base(), sig(5, 'MAOK', 'm', 'm', T0 + 5), sig(5, 'FOOK', 'f1')];
    const p = followerProgress(signals, 5, 'm', T0 + 10, 1000);
    expect(p).toMatchObject({ followers: ['f1', 'f2'], done: ['f1'], pending: ['f2'], complete: false });
  });

  it('completes once every follower wrote FOOK', () => {
    const signals = [...base(), sig(5, 'MAOK', 'm', 'm', T0 + 5), sig(5, 'FOOK', 'f1'), sig(5, 'FOOK', 'f2')];
    expect(followerProgress(signals, 5, 'm', T0 + 10, 1000)).toMatchObject({ complete: true, timedOut: [] });
  });

  it('times out silent followers by the server clock, counted from MAOK', () => {
    const signals = [...base(), sig(5, 'MAOK', 'm', 'm', T0 + 5), sig(5, 'FOOK', 'f1')];
    expect(followerProgress(signals, 5, 'm', T0 + 1004, 1000).complete).toBe(false);
    expect(followerProgress(signals, 5, 'm', T0 + 1005, 1000)).toMatchObject({
      complete: true,
      timedOut: ['f2'],
    });
  });

  it('does not count a FOOK from a stale epoch', () => {
    const signals = [...base(), sig(5, 'MAOK', 'm'), sig(4, 'FOOK', 'f1'), sig(5, 'FOOK', 'f2')];
    expect(followerProgress(signals, 5, 'm', T0, 1000).pending).toEqual(['f1']);
  });
});

describe('audit helpers', () => {
  it('measures from the first SCAN of the operation across takeover epochs', () => {
    const signals = [
      sig(5, 'SCAN', 'a', 'a', T0 + 100),
      sig(6, 'SCAN', 'b', 'b', T0 + 3000),
      sig(3, 'SCAN', 'z', 'z', T0),
    ];
    expect(msSinceFirstScan(signals, 5, T0 + 3100)).toBe(3000);
  });

  it('lists the masters of each epoch so two masters in one epoch show up', () => {
    const m = mastersPerEpoch([
      { epoch: 1, sig: 'MAST', participant: 'a' },
      { epoch: 2, sig: 'MAST', participant: 'b' },
      { epoch: 2, sig: 'MAST', participant: 'c' },
      { epoch: 2, sig: 'FOLO', participant: 'd' },
    ]);
    expect(Object.fromEntries(m)).toEqual({ 1: ['a'], 2: ['b', 'c'] });
  });
});
