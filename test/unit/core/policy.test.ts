/**
 * Operator policy (core/policy.ts): maintenance, anti-flap, promotion ranking, force. Pure: analyses
 * and plans are built here, servers are cloned from the captured Ok snapshot.
 */
import { describe, expect, it } from 'vitest';
import type { Analysis } from '../../../functions/core/analysis.js';
import { plan } from '../../../functions/core/planner.js';
import {
  activeMaintenance,
  antiFlapHold,
  applyMaintenance,
  applyPromotionRules,
  fallbackOrder,
  forcedRequestProblem,
  type MaintenanceWindow,
  type PrimaryChange,
  rankCandidates,
  refusePromotion,
} from '../../../functions/core/policy.js';
import { gtidValue } from '../../../functions/core/snapshot.js';
import { A, analysis, B, C, NOW, replicas } from './policy-fixtures.js';

const HOUR = 3_600_000;

function window(scope: string, extra: Partial<MaintenanceWindow> = {}): MaintenanceWindow {
  return {
    scope,
    reason: 'backup',
    startedAt: NOW - 60_000,
    expiresAt: NOW + HOUR,
    endedAt: null,
    by: 'test',
    ...extra,
  };
}

const ctx = { now: NOW };

describe('maintenance windows', () => {
  it('are in force from their start until they end or expire', () => {
    const ended = window(B, { endedAt: NOW - 1 });
    const expired = window(C, { expiresAt: NOW });
    const future = window(A, { startedAt: NOW + 1 });
    expect(activeMaintenance([window(B), ended, expired, future], NOW)).toEqual([window(B)]);
  });

  it('keeps a replica whose replication is stopped for a backup: no rebuild, reported as expected', () => {
    const a = analysis('RecoverNeeded', { affected: [B] });
    const p = applyMaintenance(plan(a, ctx), a, [window(B)]);
    expect(p).toMatchObject({
      kind: 'none',
      steps: [],
      suppressed: { operation: 'recover', because: 'maintenance' },
    });
    expect(p.reason).toContain('expected during maintenance');
    expect(p.reason).toContain(`${B} is in maintenance`);
  });

  it('rebuilds the other broken replica but leaves the one in maintenance alone', () => {
    const a = analysis('RecoverNeeded', { affected: [B, C] });
    const p = applyMaintenance(plan(a, ctx), a, [window(B)]);
    expect(p.kind).toBe('operation');
    expect(p.steps.map((s) => ('server' in s ? `${s.kind}:${s.server}` : s.kind))).toEqual([
      `Salvage:${C}`,
      `StopReplication:${C}`,
      `Reseed:${C}`,
      `StartReplication:${C}`,
      'RestoreRouters',
    ]);
  });

  it('never promotes a server in maintenance: the failover becomes an alert', () => {
    const a = analysis('FailoverNeeded', { primary: B, candidate: B, oldPrimary: A });
    const p = applyMaintenance(plan(a, ctx), a, [window(B)]);
    expect(p).toMatchObject({
      kind: 'alert-only',
      suppressed: { operation: 'failover', because: 'maintenance' },
    });
    expect(p.steps).toEqual([expect.objectContaining({ kind: 'Alert' })]);
  });

  it('reports a replica that is down or lagging during its maintenance as expected, not as an alert', () => {
    for (const code of ['ReplicaDown', 'ReplicationLagging'] as const) {
      const a = analysis(code, { affected: [B] });
      expect(applyMaintenance(plan(a, ctx), a, [window(B)]).kind).toBe('none');
      // another replica's window changes nothing
      expect(applyMaintenance(plan(a, ctx), a, [window(C)]).kind).toBe('alert-only');
    }
  });

  it('holds every operation during a cluster window, but lets an operation in progress finish', () => {
    const a = analysis('FailoverNeeded', { primary: B, candidate: B, oldPrimary: A });
    expect(applyMaintenance(plan(a, ctx), a, [window('cluster')]).kind).toBe('none');
    const inProgress = analysis('OperationInProgress', { affected: [A] });
    expect(applyMaintenance(plan(inProgress, ctx), inProgress, [window('cluster')]).kind).toBe('follow');
  });
});

const change = (operation: PrimaryChange['operation'], at: number, extra: Partial<PrimaryChange> = {}) => ({
  operation,
  from: A,
  to: B,
  at,
  forced: false,
  reason: 'test',
  ...extra,
});

describe('anti-flap', () => {
  it('holds a flap back after a failover: the move back to the old primary within the period is an alert', () => {
    const hold = antiFlapHold([change('failover', NOW - 10 * 60_000)], NOW, 3600);
    expect(hold?.until).toBe(NOW - 10 * 60_000 + HOUR);
    const back = analysis('FailoverNeeded', { primary: A, candidate: A, oldPrimary: B });
    const p = plan(back, { now: NOW, antiFlapUntil: hold!.until });
    expect(p).toMatchObject({ kind: 'alert-only', suppressed: { operation: 'failover' } });
    expect(plan(back, { now: NOW, antiFlapUntil: hold!.until, force: true }).kind).toBe('operation');
  });

  it('does not hold back the death of a new primary right after a switchover', () => {
    expect(antiFlapHold([change('switchover', NOW - 60_000)], NOW, 3600)).toBeNull();
    // a switchover after a failover ends that failover's period: the operator chose the primary
    const history = [
      change('failover', NOW - 20 * 60_000),
      change('switchover', NOW - 60_000, { from: B, to: A }),
    ];
    expect(antiFlapHold(history, NOW, 3600)).toBeNull();
    const dead = analysis('PrimaryDead', { primary: B, candidate: B, oldPrimary: A });
    expect(plan(dead, { now: NOW, antiFlapUntil: null }).kind).toBe('operation');
  });

  it('opens no period for a forced operation, and none once the period is over or disabled', () => {
    expect(antiFlapHold([change('failover', NOW - 60_000, { forced: true })], NOW, 3600)).toBeNull();
    expect(antiFlapHold([change('promote-dead', NOW - 2 * HOUR)], NOW, 3600)).toBeNull();
    expect(antiFlapHold([change('promote-dead', NOW - 60_000)], NOW, 0)).toBeNull();
    expect(antiFlapHold([change('promote-dead', NOW - 60_000)], NOW, 3600)).not.toBeNull();
  });

  it('never holds back a recover, a rejoin or a reopen', () => {
    const until = NOW + HOUR;
    expect(plan(analysis('RecoverNeeded', { affected: [B] }), { now: NOW, antiFlapUntil: until }).kind).toBe(
      'operation',
    );
  });
});

describe('promotion ranking', () => {
  it('prefers the semi-sync replica among equally complete ones, above the rules', () => {
    const r = replicas([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-12' },
    ]);
    r[1]!.semiSync = {
      primaryEnabled: false,
      replicaEnabled: true,
      primaryActive: false,
      clients: 0,
      waitSessions: 0,
      replicaActive: true,
      timeoutMs: 10000,
    };
    const ranked = rankCandidates(r, { rules: { [A]: 'prefer' }, maxLagSeconds: null });
    expect(ranked.candidates.map((c) => [c.server, c.semiSync ?? false])).toEqual([
      [B, true],
      [A, false],
    ]);
    // A more complete replica still comes first: acknowledged writes are never given up.
    r[0]!.gtid.currentPos = gtidValue('0-1-13', 'mariadb');
    r[0]!.gtid.binlogPos = gtidValue('0-1-13', 'mariadb');
    expect(rankCandidates(r, { rules: {}, maxLagSeconds: null }).candidates[0]?.server).toBe(A);
  });

  it('puts the replica holding every acknowledged transaction first, whatever the rules say', () => {
    const r = replicas([
      { id: A, pos: '0-1-10' },
      { id: B, pos: '0-1-12' },
    ]);
    expect(
      rankCandidates(r, { rules: { [A]: 'prefer' }, maxLagSeconds: null }).candidates.map((c) => c.server),
    ).toEqual([B, A]);
  });

  it('then prefers by rule, then by least lag, and never promotes a never or delayed replica', () => {
    const r = replicas([
      { id: A, pos: '0-1-12', lag: 0 },
      { id: B, pos: '0-1-12', lag: 5 },
      { id: C, pos: '0-1-12', delay: 3600 },
    ]);
    const ranked = rankCandidates(r, { rules: { [B]: 'prefer' }, maxLagSeconds: null });
    expect(ranked.candidates.map((c) => c.server)).toEqual([B, A]);
    expect(ranked.excluded).toEqual([{ server: C, because: 'delayed replica (SQL_Delay 3600s)' }]);
    const neutral = rankCandidates(r, { rules: { [A]: 'never' }, maxLagSeconds: 2 });
    expect(neutral.candidates).toEqual([]);
    expect(neutral.excluded.map((e) => e.because)).toEqual([
      'promotion: never',
      '5s behind (maxLagSecondsForPromotion 2)',
      'delayed replica (SQL_Delay 3600s)',
    ]);
  });

  it('orders router fallbacks by the same rules: prefer first, never and delayed left out', () => {
    expect(fallbackOrder([A, B, C], A, { [C]: 'prefer', [B]: 'neutral' })).toEqual([A, C, B]);
    expect(fallbackOrder([A, B, C], A, { [B]: 'never' }, [C])).toEqual([A]);
  });
});

describe('force', () => {
  const r = replicas([
    { id: A, pos: '0-1-10' },
    { id: B, pos: '0-1-12' },
  ]);

  it('needs an explicit target', () => {
    expect(forcedRequestProblem({ target: undefined, allowDataLoss: false }, r)).toMatch(/explicit target/);
  });

  it('refuses a target missing transactions another reachable server holds, unless data loss is allowed by name', () => {
    expect(forcedRequestProblem({ target: A, allowDataLoss: false }, r)).toMatch(
      /lacks 2 transaction\(s\) 10\.0\.0\.2:3306 holds.*--allow-data-loss/,
    );
    expect(forcedRequestProblem({ target: A, allowDataLoss: true }, r)).toBeNull();
    expect(forcedRequestProblem({ target: B, allowDataLoss: false }, r)).toBeNull();
  });
});

describe('promotion rules applied to a promotion', () => {
  const dead = (candidate: string, affected: string[]): Analysis =>
    analysis('PrimaryDead', { primary: candidate, candidate, oldPrimary: C, affected });

  it('promotes the preferred replica instead of the one the routers fell back to, which then follows it', () => {
    const r = replicas([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-12' },
    ]);
    const out = applyPromotionRules(dead(A, [B]), r, { rules: { [B]: 'prefer' }, maxLagSeconds: null });
    expect(out).toMatchObject({ analysis: { candidate: B, affected: [A] } });
    const steps = plan((out as { analysis: Analysis }).analysis, ctx).steps;
    expect(steps).toContainEqual({ kind: 'Promote', server: B });
    expect(steps).toContainEqual({
      kind: 'StartReplication',
      server: A,
      from: B,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    });
  });

  it('keeps the routers choice when it ranks first, and refuses when only a never replica could be promoted', () => {
    const r = replicas([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-10' },
    ]);
    expect(applyPromotionRules(dead(A, [B]), r, { rules: {}, maxLagSeconds: null })).toMatchObject({
      analysis: { candidate: A },
    });
    // A holds two transactions B lacks: B may not be promoted over it, and A is `never`.
    const refused = applyPromotionRules(dead(A, [B]), r, { rules: { [A]: 'never' }, maxLagSeconds: null });
    expect(refused).toMatchObject({
      refuse: expect.stringContaining('lacks transactions another replica holds'),
    });
    const p = refusePromotion(plan(dead(A, [B]), ctx), (refused as { refuse: string }).refuse);
    expect(p).toMatchObject({
      kind: 'alert-only',
      suppressed: { operation: 'promote-dead', because: 'promotion rules' },
    });
  });

  it('does not take a replica rebuilt from a dump (a short binary log) for one lacking transactions', () => {
    const r = replicas([
      { id: A, pos: '0-3-40' },
      { id: B, pos: '0-3-40' },
    ]);
    // B's binary log starts at its rebuild; A logged the whole history (other server ids included).
    r[0]!.gtid.binlogState = { raw: '0-1-18,0-2-25,0-3-40' };
    r[1]!.gtid.binlogState = { raw: '0-3-40' };
    expect(
      applyPromotionRules(dead(A, [B]), r, { rules: { [A]: 'never' }, maxLagSeconds: null }),
    ).toMatchObject({
      analysis: { candidate: B },
    });
  });

  it('never promotes a delayed replica the routers fell back to', () => {
    const r = replicas([
      { id: A, pos: '0-1-12', delay: 600 },
      { id: B, pos: '0-1-12' },
    ]);
    expect(applyPromotionRules(dead(A, [B]), r, { rules: {}, maxLagSeconds: null })).toMatchObject({
      analysis: { candidate: B, affected: [A] },
    });
  });
});
