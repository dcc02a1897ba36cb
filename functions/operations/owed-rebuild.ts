/**
 * Rebuilds the watchdog owes. A server the watchdog fenced and kept out of the routers (the old
 * primary of a failover, or a dead primary it promoted away from) must be rebuilt before it serves
 * again. When it comes back writable holding transactions the new primary lacks, the analysis sees two
 * heads with writes the other lacks — a SplitBrain by the snapshot alone. It is not one of unknown
 * cause: the routers never sent it a write since the watchdog took it out, so the rebuild is planned
 * (fence again, salvage its transactions, reseed, replicate) whatever the split-brain policy says.
 * Pure.
 */
import type { Analysis } from '../core/analysis.js';
import { type Plan, type PlanContext, plan, type Step } from '../core/planner.js';
import type { ServerId } from '../core/snapshot.js';

export function owedRebuildPlan(a: Analysis, fenced: readonly ServerId[], ctx: PlanContext): Plan | null {
  if (fenced.length === 0 || !a.primary || fenced.includes(a.primary)) return null;
  const routersUnanimous = Object.keys(a.routers.targets).length <= 1;
  const owed = a.affected.filter((s) => s !== a.primary && fenced.includes(s));
  if (owed.length === 0) return null;
  let base: Plan;
  if (a.code === 'SplitBrain') {
    if (!routersUnanimous || owed.length !== a.affected.filter((s) => s !== a.primary).length) return null;
    base = plan(
      { ...a, code: 'RecoverNeeded', candidate: null },
      { ...ctx, antiFlapUntil: null, requested: 'check' },
    );
    base = {
      ...base,
      severity: 'critical',
      reason: `${owed.join(', ')} came back writable after the watchdog fenced it (owed rebuild, not an unexplained split brain): fence, salvage its transactions, reseed from ${a.primary}`,
    };
  } else if (a.code === 'RecoverNeeded' || a.code === 'ReplicaErrantTransactions') {
    base = plan(a, { ...ctx, antiFlapUntil: null });
    if (base.kind !== 'operation') return null;
    base = {
      ...base,
      reason: `${base.reason}; ${owed.join(', ')} was fenced by the watchdog and is rebuilt now`,
    };
  } else {
    return null;
  }
  if (base.kind !== 'operation') return null;
  const fences: Step[] = owed.map((s) => ({ kind: 'Fence', server: s, ifReachable: false }));
  return { ...base, code: a.code, steps: [...fences, ...base.steps] };
}
