/**
 * Owed rebuilds (pure): a server the watchdog fenced that comes back writable with its own
 * transactions is rebuilt, not treated as an unexplained split brain; the plan fences it first.
 */
import { describe, expect, it } from 'vitest';
import type { Analysis } from '../../../functions/core/analysis.js';
import { owedRebuildPlan } from '../../../functions/operations/owed-rebuild.js';

const base: Analysis = {
  code: 'SplitBrain',
  description: '',
  evidence: [],
  primary: 'db2:3306',
  candidate: 'db2:3306',
  oldPrimary: null,
  affected: ['db1:3306'],
  errant: [{ server: 'db1:3306', missingOn: 'db2:3306', gtids: '0-1-[18..20]', count: '3' }],
  routers: { total: 3, answering: 3, targets: { 'db2:3306': 3 } },
  also: [],
  takenAt: '2026-01-01T00:00:00.000Z',
};
const ctx = { now: 0, antiFlapUntil: 10, splitBrainPolicy: 'alert-only' as const };

describe('owedRebuildPlan', () => {
  it('rebuilds a fenced old primary that came back writable instead of only alerting', () => {
    const p = owedRebuildPlan(base, ['db1:3306'], ctx);
    expect(p).not.toBeNull();
    expect(p!.kind).toBe('operation');
    expect(p!.operation).toBe('recover');
    expect(p!.steps.map((s) => s.kind)).toEqual([
      'Fence',
      'Salvage',
      'StopReplication',
      'Reseed',
      'StartReplication',
      'Verify',
      'RestoreRouters',
    ]);
    expect(p!.steps[0]).toEqual({ kind: 'Fence', server: 'db1:3306', ifReachable: false });
    expect(p!.steps[1]).toMatchObject({
      kind: 'Salvage',
      server: 'db1:3306',
      missingOn: 'db2:3306',
      gtids: '0-1-[18..20]',
    });
  });

  it('leaves a split brain between servers the watchdog never fenced to the policy', () => {
    expect(owedRebuildPlan(base, [], ctx)).toBeNull();
    expect(owedRebuildPlan(base, ['db3:3306'], ctx)).toBeNull();
  });

  it('does not act when the routers disagree', () => {
    const disagree = {
      ...base,
      routers: { total: 3, answering: 3, targets: { 'db2:3306': 2, 'db1:3306': 1 } },
    };
    expect(owedRebuildPlan(disagree, ['db1:3306'], ctx)).toBeNull();
  });

  it('never rebuilds the primary itself', () => {
    expect(owedRebuildPlan(base, ['db2:3306'], ctx)).toBeNull();
  });

  it('fences a fenced replica again before a recover rebuilds it', () => {
    const recover = { ...base, code: 'RecoverNeeded' as const, candidate: null, errant: [] };
    const p = owedRebuildPlan(recover, ['db1:3306'], ctx);
    expect(p!.steps[0]).toEqual({ kind: 'Fence', server: 'db1:3306', ifReachable: false });
    expect(p!.steps.map((s) => s.kind)).toContain('Reseed');
  });
});
