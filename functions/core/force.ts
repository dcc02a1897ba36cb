/**
 * A forced operation (`force: true`): an operator overrides what holds the watchdog back (the anti-flap
 * period, the promotion rules, the split-brain policy) by naming the server that becomes the primary.
 * Pure: the cycle calls `forcedPlan` instead of the normal planning when the request says `force`.
 *
 * - A forced failover or switchover names its target (`target`); without one it is refused.
 * - The target never lacks transactions another reachable server holds, unless the operator also says
 *   `allowDataLoss` (a second, separately named flag). A switchover exempts what the old primary holds:
 *   its CatchUp waits, after the fence, for the old primary's whole position.
 * - A forced failover the analysis does not call for (the watchdog cannot see the primary, the routers
 *   still use it) promotes the target as after a primary's death: the old primary is fenced if it
 *   answers, kept out of every router and rebuilt when it returns. A primary that answers is moved by a
 *   switchover, not a failover.
 * - The plan carries `forced` (target, allowDataLoss, the operator's reason, what the watchdog would
 *   have done otherwise): the report, the audit record and the primary-change history record it, and a
 *   forced move opens no anti-flap period (core/policy.ts).
 *
 * Rules: functions/operations/README.md ("Force"); tests: test/unit/core/force.test.ts and the scenario
 * `forced-failover-target`.
 */
import type { Analysis, AnalysisCode } from './analysis.js';
import {
  canonicalServerId,
  type Plan,
  type PlanContext,
  plan,
  RULES,
  withRestoredRouters,
  withSemiSync,
} from './planner.js';
import { forcedRequestProblem, MOVES_PRIMARY } from './policy.js';
import type { ServerId, ServerObservation } from './snapshot.js';

export interface ForceRequest {
  action: NonNullable<PlanContext['requested']>;
  /** The server to promote (host:port). */
  target: ServerId | undefined;
  /** The second flag: promote the target although another reachable server holds transactions it lacks. */
  allowDataLoss: boolean;
  /** The operator's words, recorded with the operation. */
  reason: string | undefined;
}

/** What a plan records when an operator forced it. */
export interface Forced {
  target: ServerId;
  allowDataLoss: boolean;
  reason: string;
  /** What the watchdog would have done without force (plan kind, operation, why). */
  insteadOf: string;
}

/** Analyses on which a forced failover is refused whatever the target: nothing safe can be built. */
const NEVER_FORCED: ReadonlySet<AnalysisCode> = new Set<AnalysisCode>([
  'OperationInProgress',
  'AllDown',
  'RoutersUnknown',
  'RoutersUnreachable',
  'NotGtidEnabled',
]);

function describePlan(p: Plan): string {
  const what = p.operation ? `${p.kind} ${p.operation}` : p.kind;
  return `${what}: ${p.suppressed ? `held back (${p.suppressed.because})` : p.reason}`;
}

/** The analysis with `target` as the server to promote instead of the routers' choice. */
function retarget(a: Analysis, target: ServerId): Analysis {
  if (a.candidate === target) return a;
  const affected = [
    ...new Set([...a.affected.filter((s) => s !== target), ...(a.candidate ? [a.candidate] : [])]),
  ];
  return {
    ...a,
    candidate: target,
    primary: target,
    affected,
    // Differences were computed against the routers' choice: the salvage steps compute their own.
    errant: a.errant.filter((e) => e.server === a.oldPrimary),
    evidence: [...a.evidence, `forced: ${target} is promoted instead of ${a.candidate ?? 'nobody'}`],
  };
}

/**
 * The plan for a forced request, or null when force changes nothing (the request moves no primary:
 * a check whose analysis calls for a recover, a rejoin, nothing at all). `unforced` is the plan the
 * watchdog made without force (recorded as what the operator overrode).
 */
export function forcedPlan(
  a: Analysis,
  servers: readonly ServerObservation[],
  request: ForceRequest,
  ctx: PlanContext,
  unforced: Plan,
): Plan | null {
  const dryRun = ctx.dryRun ?? false;
  const target = request.target === undefined ? undefined : canonicalServerId(request.target);
  const forcedCtx: PlanContext = { ...ctx, force: true };
  const refused = (because: string): Plan => ({
    code: a.code,
    dryRun,
    kind: 'alert-only',
    severity: 'warning',
    steps: [
      {
        kind: 'Alert',
        severity: 'warning',
        message: `${a.code}: forced ${request.action} refused: ${because}`,
      },
    ],
    reason: `forced ${request.action} refused: ${because}`,
  });
  const mark = (p: Plan): Plan => {
    if (p.kind !== 'operation' || !target) return p;
    const reason = request.reason?.trim() || 'no reason given';
    return {
      ...p,
      reason: `${p.reason}; forced by the operator to ${target}${request.allowDataLoss ? ' (data loss allowed)' : ''}: ${reason}`,
      forced: { target, allowDataLoss: request.allowDataLoss, reason, insteadOf: describePlan(unforced) },
    };
  };

  if (request.action === 'switchover') {
    const problem = forcedRequestProblem({ target, allowDataLoss: request.allowDataLoss }, servers, {
      caughtUpFrom: a.primary,
    });
    if (problem) return refused(problem);
    return mark(plan(a, { ...forcedCtx, requested: 'switchover', switchoverTo: target! }));
  }

  const free = plan(a, { ...forcedCtx, requested: 'check' });
  const moves =
    free.kind === 'operation' && free.operation !== undefined && MOVES_PRIMARY.has(free.operation);
  if (!moves && request.action !== 'failover') return null;
  const problem = forcedRequestProblem({ target, allowDataLoss: request.allowDataLoss }, servers);
  if (problem) return refused(problem);
  const to = target!;

  if (moves) {
    if (free.operation === 'split-brain' && !a.affected.includes(to) && a.candidate !== to) {
      return refused(`${to} is not one of the split brain's sides (${a.affected.join(', ')})`);
    }
    if (to === a.oldPrimary) return refused(`${to} is the old primary, the one the routers left`);
    return mark(plan(retarget(a, to), { ...forcedCtx, requested: 'check' }));
  }

  // A failover the analysis does not call for.
  const old = a.oldPrimary ?? a.primary;
  if (NEVER_FORCED.has(a.code) || !old) {
    return refused(`the cluster is ${a.code} (${a.description}): there is no primary to fail over from`);
  }
  if (to === old) return refused(`${to} is already the primary`);
  if (servers.find((s) => s.id === old)?.reachable) {
    return refused(
      `the primary ${old} answers: move it with a switchover ("action": "switchover", "target": "${to}", with force during the anti-flap period)`,
    );
  }
  const others = servers.filter((s) => s.reachable && s.id !== to && s.id !== old).map((s) => s.id);
  const promoted: Analysis = {
    ...a,
    code: 'PrimaryDead',
    candidate: to,
    oldPrimary: old,
    primary: to,
    affected: others,
    errant: [],
  };
  return mark({
    code: a.code,
    dryRun,
    kind: 'operation',
    operation: 'promote-dead',
    severity: 'critical',
    // As plan() would: semi-sync on the new topology when configured, the routers restored last.
    steps: withRestoredRouters(
      ctx.semiSync ? withSemiSync(RULES.PrimaryDead.steps!(promoted)) : RULES.PrimaryDead.steps!(promoted),
    ),
    reason: `forced failover: ${old} does not answer the watchdog (${a.code}); ${to} is promoted, ${old} is fenced when it answers, kept out of every router and rebuilt`,
  });
}
