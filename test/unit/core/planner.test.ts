import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ANALYSIS_CODES,
  type Analysis,
  type AnalysisCode,
  type AnalyzeOptions,
  analyze,
} from '../../../functions/core/analysis.js';
import { type Plan, type PlanContext, plan, RULES, type Step } from '../../../functions/core/planner.js';
import { hydrateSnapshot, type Snapshot } from '../../../functions/core/snapshot.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const A = '10.0.0.1:3306';
const B = '10.0.0.2:3306';

function analysis(code: AnalysisCode, extra: Partial<Analysis> = {}): Analysis {
  return {
    code,
    description: code,
    evidence: ['test'],
    primary: A,
    candidate: null,
    oldPrimary: null,
    affected: [],
    errant: [],
    routers: { total: 3, answering: 3, targets: { [A]: 3 } },
    also: [],
    takenAt: '2026-11-25T12:00:00Z',
    ...extra,
  };
}

/** A plausible analysis for each code (what the analysis would fill in). */
const SAMPLE: Record<AnalysisCode, Analysis> = {
  Ok: analysis('Ok'),
  AllDown: analysis('AllDown', { primary: null }),
  OperationInProgress: analysis('OperationInProgress', { affected: [A] }),
  MultiSourceReplica: analysis('MultiSourceReplica', { affected: [B] }),
  SplitBrain: analysis('SplitBrain', { primary: null, candidate: A, affected: [B, A] }),
  RoutersBehind: analysis('RoutersBehind', { primary: B, candidate: B, affected: [A] }),
  PrimaryUnreachableRoutersOnPrimary: analysis('PrimaryUnreachableRoutersOnPrimary'),
  UnconfirmedPrimaryFailure: analysis('UnconfirmedPrimaryFailure', {
    primary: B,
    candidate: B,
    oldPrimary: A,
  }),
  PrimaryDead: analysis('PrimaryDead', { primary: B, candidate: B, oldPrimary: A }),
  FailoverNeeded: analysis('FailoverNeeded', {
    primary: B,
    candidate: B,
    oldPrimary: A,
    errant: [{ server: A, missingOn: B, gtids: '0-1-[21..22]', count: '2' }],
  }),
  RoutersUnreachable: analysis('RoutersUnreachable'),
  RoutersUnknown: analysis('RoutersUnknown', { primary: null }),
  NotGtidEnabled: analysis('NotGtidEnabled', { affected: [B] }),
  RecoverNeeded: analysis('RecoverNeeded', { affected: [B] }),
  ReplicaErrantTransactions: analysis('ReplicaErrantTransactions', {
    affected: [B],
    errant: [{ server: B, missingOn: A, gtids: '0-2-[17..18]', count: '2' }],
  }),
  PrimaryReadOnly: analysis('PrimaryReadOnly', { affected: [A], candidate: A }),
  SemiSyncStuck: analysis('SemiSyncStuck', { affected: [A] }),
  ReplicaDown: analysis('ReplicaDown', { affected: [B] }),
  ReplicationLagging: analysis('ReplicationLagging', { affected: [B] }),
};

const ctx = (extra: Partial<PlanContext> = {}): PlanContext => ({ now: NOW, ...extra });
const kinds = (p: Plan): string[] => p.steps.map((s) => s.kind);
const indexOf = (p: Plan, pred: (s: Step) => boolean): number => p.steps.findIndex(pred);

describe('the plan table', () => {
  it('has exactly one row per analysis code', () => {
    expect(Object.keys(RULES).sort()).toEqual([...ANALYSIS_CODES].sort());
  });

  it.each(ANALYSIS_CODES)('maps %s to a plan with a reason', (code) => {
    const p = plan(SAMPLE[code], ctx({ splitBrainPolicy: 'resolve' }));
    expect(p.code).toBe(code);
    expect(p.reason.length).toBeGreaterThan(0);
    const rule = RULES[code];
    const expectedKind = { none: 'none', alert: 'alert-only', operation: 'operation', follow: 'follow' }[
      rule.action
    ];
    expect(p.kind).toBe(expectedKind);
    if (p.kind === 'operation') {
      expect(p.operation).toBe(rule.operation);
      expect(p.steps.length).toBeGreaterThan(0);
      // Verified last; a plan that starts replicas then puts them back into the routers.
      const last = kinds(p).at(-1) === 'RestoreRouters' ? -2 : -1;
      expect(p.steps.at(last)?.kind).toBe('Verify');
      expect(kinds(p).at(-1) === 'RestoreRouters').toBe(kinds(p).includes('StartReplication'));
    }
    if (p.kind === 'alert-only') expect(kinds(p)).toEqual(['Alert']);
    if (p.kind === 'none') expect(p.steps).toEqual([]);
  });

  it('plans every golden snapshot without throwing', () => {
    const dir = join(import.meta.dirname, '../../fixtures/snapshots');
    const snapshots = readdirSync(dir).filter(
      (n) => n.endsWith('.json') && !n.endsWith('.expected.json') && !n.endsWith('.options.json'),
    );
    for (const f of snapshots) {
      const snap = hydrateSnapshot(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Snapshot);
      const optionsFile = join(dir, f.replace(/\.json$/, '.options.json'));
      const a = analyze(
        snap,
        existsSync(optionsFile) ? (JSON.parse(readFileSync(optionsFile, 'utf8')) as AnalyzeOptions) : {},
      );
      const p = plan(a, ctx({ splitBrainPolicy: 'resolve' }));
      expect(p.code).toBe(a.code);
    }
  });
});

describe('operations follow the safety rules', () => {
  it('fences the old primary before promoting the replica, and salvages before it is reseeded', () => {
    const p = plan(SAMPLE.FailoverNeeded, ctx());
    expect(p.operation).toBe('failover');
    const fence = indexOf(p, (s) => s.kind === 'Fence' && s.server === A);
    const promote = indexOf(p, (s) => s.kind === 'Promote' && s.server === B);
    const targ = indexOf(p, (s) => s.kind === 'WriteTarg');
    const routers = indexOf(p, (s) => s.kind === 'SwitchRouters');
    const salvage = indexOf(p, (s) => s.kind === 'Salvage' && s.server === A);
    const reseed = indexOf(p, (s) => s.kind === 'Reseed' && s.server === A);
    expect(fence).toBe(0);
    expect(p.steps[fence]).toMatchObject({ ifReachable: false });
    expect(fence).toBeLessThan(promote);
    expect(targ).toBeLessThan(routers);
    expect(salvage).toBeLessThan(reseed);
    expect(p.steps[salvage]).toMatchObject({ missingOn: B, gtids: '0-1-[21..22]' });
    expect(p.steps[routers]).toEqual({ kind: 'SwitchRouters', to: B, exclude: [A] });
    expect(p.steps).toContainEqual({ kind: 'Reseed', server: A, from: B });
    expect(p.steps).toContainEqual({
      kind: 'StartReplication',
      server: A,
      from: B,
      gtidMode: 'slave_pos',
      keepReadOnly: true,
    });
    // A failover rebuilds the old primary: it is verified Ok, nothing less; then the routers get it
    // back as a fallback behind B.
    expect(p.steps.at(-2)).toEqual({ kind: 'Verify', expect: 'Ok', accept: [] });
    expect(p.steps.at(-1)).toEqual({ kind: 'RestoreRouters', to: B });
  });

  it('promotes a confirmed-dead primary’s replica without waiting for the old one, fencing it only if it answers', () => {
    const p = plan(SAMPLE.PrimaryDead, ctx());
    expect(p.operation).toBe('promote-dead');
    expect(p.steps[0]).toEqual({ kind: 'Fence', server: A, ifReachable: true });
    expect(p.steps[1]).toEqual({ kind: 'CatchUp', server: B, waitFor: { kind: 'relay-log' } });
    expect(kinds(p)).toEqual([
      'Fence',
      'CatchUp',
      'StopReplication',
      'ResetReplication',
      'Promote',
      'WriteTarg',
      'SwitchRouters',
      'VerifyRouters',
      'Verify',
    ]);
    // Verified when B is the primary, whatever replica matter is left (the dead server is one).
    expect(p.steps.at(-1)).toEqual({
      kind: 'Verify',
      expect: 'ReplicaDown',
      accept: [{ kind: 'replica-matter', primary: B }],
    });
    // nothing overwrites the dead server now: it is rebuilt when it returns (FailoverNeeded/RecoverNeeded)
    expect(kinds(p)).not.toContain('Reseed');
  });

  it('repoints the other replicas to the new primary, rebuilding one that holds what the new primary lacks', () => {
    const C = '10.0.0.3:3306';
    const D = '10.0.0.4:3306';
    const p = plan(
      analysis('PrimaryDead', {
        primary: B,
        candidate: B,
        oldPrimary: A,
        affected: [C, D],
        errant: [{ server: D, missingOn: B, gtids: '0-1-[50..51]', count: '2' }],
      }),
      ctx(),
    );
    expect(p.steps).toContainEqual({
      kind: 'StartReplication',
      server: C,
      from: B,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    });
    const salvage = indexOf(p, (s) => s.kind === 'Salvage' && s.server === D);
    expect(salvage).toBeGreaterThan(indexOf(p, (s) => s.kind === 'Promote'));
    expect(salvage).toBeLessThan(indexOf(p, (s) => s.kind === 'Reseed' && s.server === D));
    expect(p.steps).toContainEqual({
      kind: 'StartReplication',
      server: D,
      from: B,
      gtidMode: 'slave_pos',
      keepReadOnly: true,
    });
  });

  it('rebuilds a broken replica from the primary after salvaging what only it has', () => {
    const p = plan(SAMPLE.ReplicaErrantTransactions, ctx());
    expect(p.operation).toBe('recover');
    expect(p.steps).toEqual([
      { kind: 'Salvage', server: B, missingOn: A, gtids: '0-2-[17..18]' },
      { kind: 'StopReplication', server: B },
      { kind: 'Reseed', server: B, from: A },
      { kind: 'StartReplication', server: B, from: A, gtidMode: 'slave_pos', keepReadOnly: true },
      { kind: 'Verify', expect: 'Ok', accept: [] },
      { kind: 'RestoreRouters', to: A },
    ]);
    // with no known difference, the salvage step is still there and computes it itself
    expect(plan(SAMPLE.RecoverNeeded, ctx()).steps[0]).toEqual({
      kind: 'Salvage',
      server: B,
      missingOn: A,
      gtids: null,
    });
  });

  it('never acts on a partitioned or unconfirmed view', () => {
    for (const code of [
      'PrimaryUnreachableRoutersOnPrimary',
      'UnconfirmedPrimaryFailure',
      'RoutersUnreachable',
      'RoutersUnknown',
    ] as const) {
      const p = plan(SAMPLE[code], ctx({ force: true }));
      expect(p.kind).toBe('alert-only');
      expect(kinds(p)).toEqual(['Alert']);
    }
  });

  it('points a group that missed a switch at the primary the other groups use, even inside the anti-flap period', () => {
    const p = plan(SAMPLE.RoutersBehind, ctx({ antiFlapUntil: NOW + 3_600_000 }));
    expect(p.kind).toBe('operation');
    expect(p.operation).toBe('rejoin');
    expect(p.steps).toEqual([
      { kind: 'WriteTarg', server: B },
      { kind: 'SwitchRouters', to: B, exclude: [] },
      { kind: 'VerifyRouters', to: B },
      { kind: 'Verify', expect: 'Ok', accept: [{ kind: 'replica-matter', primary: B }] },
    ]);
    // it never touches a server: no fence, promotion, salvage or reseed
    expect(
      kinds(p).filter((k) => !['WriteTarg', 'SwitchRouters', 'VerifyRouters', 'Verify'].includes(k)),
    ).toEqual([]);
    // a failover is still held back by the same anti-flap period
    expect(plan(SAMPLE.FailoverNeeded, ctx({ antiFlapUntil: NOW + 3_600_000 })).kind).toBe('alert-only');
  });

  it('opens a read-only primary again only when the analysis proved it safe, even inside the anti-flap period', () => {
    const safe = plan(SAMPLE.PrimaryReadOnly, ctx({ antiFlapUntil: NOW + 3_600_000 }));
    expect(safe).toMatchObject({ kind: 'operation', operation: 'reopen' });
    expect(safe.steps).toEqual([
      { kind: 'Promote', server: A },
      { kind: 'Verify', expect: 'Ok', accept: [{ kind: 'replica-matter', primary: A }] },
    ]);
    const unproven = plan({ ...SAMPLE.PrimaryReadOnly, candidate: null }, ctx({ force: true }));
    expect(unproven.kind).toBe('alert-only');
    expect(unproven.reason).toContain('operator decision');
  });

  it('joins an ongoing operation through the election instead of starting another', () => {
    const p = plan(SAMPLE.OperationInProgress, ctx({ force: true }));
    expect(p.kind).toBe('follow');
    expect(p.steps).toEqual([{ kind: 'JoinElection' }]);
  });
});

describe('anti-flap, force, dry run and policies', () => {
  it('turns an operation into an alert inside the anti-flap period', () => {
    const p = plan(SAMPLE.FailoverNeeded, ctx({ antiFlapUntil: NOW + 60_000 }));
    expect(p.kind).toBe('alert-only');
    expect(p.suppressed).toEqual({
      operation: 'failover',
      because: `anti-flap period until ${new Date(NOW + 60_000).toISOString()} (force with a target to act)`,
    });
    expect(p.steps[0]).toMatchObject({ kind: 'Alert', severity: 'critical' });
  });

  it('acts inside the anti-flap period when forced, and after it without force', () => {
    expect(plan(SAMPLE.FailoverNeeded, ctx({ antiFlapUntil: NOW + 60_000, force: true })).kind).toBe(
      'operation',
    );
    expect(plan(SAMPLE.FailoverNeeded, ctx({ antiFlapUntil: NOW })).kind).toBe('operation');
    expect(plan(SAMPLE.RecoverNeeded, ctx({ antiFlapUntil: null })).kind).toBe('operation');
  });

  it('keeps the same steps in a dry run and says so', () => {
    const real = plan(SAMPLE.PrimaryDead, ctx());
    const dry = plan(SAMPLE.PrimaryDead, ctx({ dryRun: true }));
    expect(dry.dryRun).toBe(true);
    expect(real.dryRun).toBe(false);
    expect(dry.steps).toEqual(real.steps);
  });

  it('only alerts on a split brain under the default policy, and resolves towards the majority side when asked', () => {
    const alertOnly = plan(SAMPLE.SplitBrain, ctx());
    expect(alertOnly.kind).toBe('alert-only');
    expect(alertOnly.suppressed?.operation).toBe('split-brain');
    const resolve = plan(SAMPLE.SplitBrain, ctx({ splitBrainPolicy: 'resolve' }));
    expect(resolve.operation).toBe('split-brain');
    expect(resolve.steps[0]).toEqual({ kind: 'Fence', server: B, ifReachable: true });
    expect(resolve.steps).toContainEqual({ kind: 'SwitchRouters', to: A, exclude: [B] });
    expect(resolve.steps).toContainEqual({ kind: 'Reseed', server: B, from: A });
    expect(indexOf(resolve, (s) => s.kind === 'Salvage')).toBeLessThan(
      indexOf(resolve, (s) => s.kind === 'Reseed'),
    );
  });

  it('honours a console request only when the analysis calls for it', () => {
    expect(plan(SAMPLE.RecoverNeeded, ctx({ requested: 'failover' })).kind).toBe('alert-only');
    expect(plan(SAMPLE.FailoverNeeded, ctx({ requested: 'recover' })).kind).toBe('alert-only');
    expect(plan(SAMPLE.FailoverNeeded, ctx({ requested: 'failover' })).operation).toBe('failover');
    expect(plan(SAMPLE.PrimaryDead, ctx({ requested: 'failover' })).operation).toBe('promote-dead');
    expect(plan(SAMPLE.Ok, ctx({ requested: 'recover' }))).toMatchObject({
      kind: 'none',
      reason: 'recover requested, but the cluster is Ok',
    });
  });

  it('plans a switchover only on a healthy cluster, to a named or the single replica', () => {
    const p = plan(SAMPLE.Ok, ctx({ requested: 'switchover', servers: [A, B] }));
    expect(p.operation).toBe('switchover');
    expect(p.steps[0]).toEqual({ kind: 'Fence', server: A, ifReachable: false });
    expect(indexOf(p, (s) => s.kind === 'Promote' && s.server === B)).toBeGreaterThan(0);
    expect(p.steps).toContainEqual({
      kind: 'StartReplication',
      server: A,
      from: B,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    });
    // The fenced old primary is alive: the target applies everything it wrote, not only what arrived.
    expect(p.steps).toContainEqual({
      kind: 'CatchUp',
      server: B,
      waitFor: { kind: 'position-of', server: A },
    });
    expect(plan(SAMPLE.RecoverNeeded, ctx({ requested: 'switchover', servers: [A, B] })).kind).toBe(
      'alert-only',
    );
    const three = plan(SAMPLE.Ok, ctx({ requested: 'switchover', servers: [A, B, '10.0.0.3:3306'] }));
    expect(three.kind).toBe('alert-only');
    expect(three.reason).toMatch(/name the target/);
  });
});

describe('semi-sync on the new topology', () => {
  it('enables it on the promoted server after Promote and on each new replica before its StartReplication', () => {
    const p = plan(SAMPLE.FailoverNeeded, ctx({ semiSync: true }));
    const k = kinds(p);
    expect(k.indexOf('SemiSync')).toBe(k.indexOf('Promote') + 1);
    expect(p.steps).toContainEqual({ kind: 'SemiSync', server: B, role: 'primary' });
    const start = p.steps.findIndex((s) => s.kind === 'StartReplication');
    expect(p.steps[start - 1]).toEqual({ kind: 'SemiSync', server: A, role: 'replica' });
    expect(kinds(plan(SAMPLE.FailoverNeeded, ctx()))).not.toContain('SemiSync');
  });
});
