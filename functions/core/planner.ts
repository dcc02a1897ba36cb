/**
 * The planner: a pure function from an analysis (and the run's context) to the plan the watchdog
 * would execute, or to "alert only". ONE exhaustive table (`RULES: Record<AnalysisCode, Rule>`) maps
 * every analysis code; adding a code without a row does not compile. Executing steps is the
 * operations module's job; this file only says which, in which order, and why.
 *
 * Order inside the operations follows the safety rules: fence the old primary before promoting
 * (rule 2), salvage a server's unique transactions before it is overwritten (rule 3), rewrite every
 * router so the fenced server is excluded and verify it (rule 4), and write TARG before routers move
 * (the election protocol). Anti-flap (rule 5): inside the anti-flap period, an operation becomes an
 * alert unless `force` is set.
 */

import { WatchdogError } from '../errors.js';
import type { Analysis, AnalysisCode, ErrantSet } from './analysis.js';
import type { Forced } from './force.js';
import type { HookPhase, HookSpec } from './hooks.js';
import { heldBackByAntiFlap, type MaintenanceWindow } from './policy.js';
import type { ServerId } from './snapshot.js';

export type OperationName =
  | 'failover'
  | 'promote-dead'
  | 'recover'
  | 'rejoin'
  | 'reopen'
  | 'split-brain'
  | 'switchover';
export type Severity = 'info' | 'warning' | 'critical';

export type Step =
  /** Make `server` read-only (super_read_only on MySQL) and check it took effect. `ifReachable`: skip if down. */
  | { kind: 'Fence'; server: ServerId; ifReachable: boolean }
  /**
   * Let `server` apply what it must hold before it stops replicating: what its IO thread already
   * received (`relay-log`), or everything a fenced, living old primary wrote (`position-of`: a planned
   * switchover leaves no acknowledged write behind).
   */
  | { kind: 'CatchUp'; server: ServerId; waitFor: CatchUpTarget }
  | { kind: 'StopReplication'; server: ServerId }
  /** RESET SLAVE ALL / RESET REPLICA ALL: the server forgets its source for good. */
  | { kind: 'ResetReplication'; server: ServerId }
  /** Make `server` writable (read_only OFF) and check it took effect. */
  | { kind: 'Promote'; server: ServerId }
  /** Election: the operation master writes TARG host:port before routers move. */
  | { kind: 'WriteTarg'; server: ServerId }
  /** Rewrite every router's destinations: `to` only (or first), `exclude` kept out until rebuilt. */
  | { kind: 'SwitchRouters'; to: ServerId; exclude: ServerId[] }
  /** Query through every router and check it lands on `to`. */
  | { kind: 'VerifyRouters'; to: ServerId }
  /** Save `server`'s transactions that `missingOn` lacks (GTID difference) to object storage. */
  | { kind: 'Salvage'; server: ServerId; missingOn: ServerId; gtids: string | null }
  /** Stream a dump of `from` into `server` (overwriting it) and set its GTID position. */
  | { kind: 'Reseed'; server: ServerId; from: ServerId }
  /**
   * CHANGE MASTER/REPLICATION SOURCE to `from` with GTID auto-position, then START. `gtidMode`
   * (MariaDB): `slave_pos` for a server just restored from a dump, `current_pos` for one that keeps
   * its own binary log (a repointed replica, a demoted old primary). `keepReadOnly`: fence it first (a
   * rebuilt server joins read-only whatever its rebuild left, e.g. a restart that dropped read_only).
   */
  | {
      kind: 'StartReplication';
      server: ServerId;
      from: ServerId;
      gtidMode: 'slave_pos' | 'current_pos';
      keepReadOnly: boolean;
    }
  /**
   * Once every server the plan starts replicating does, put them back into the routers as fallbacks
   * behind `to` (servers still fenced stay out): every group's by the master, each follower its own.
   * Best effort: a failure is a warning, the routers still point at `to`.
   */
  | { kind: 'RestoreRouters'; to: ServerId }
  /** Join the recorded operation through the election (follow TARG, switch own group's routers). */
  | { kind: 'JoinElection' }
  /**
   * Semi-sync on the new topology: `primary` waits for acknowledgements (rpl_semi_sync_master_enabled),
   * `replica` acknowledges (rpl_semi_sync_slave_enabled; before its StartReplication, so the IO thread
   * registers as semi-sync when it starts).
   */
  | { kind: 'SemiSync'; server: ServerId; role: 'primary' | 'replica' }
  /**
   * Observe again until the analysis says `expect` or Ok (then CHECKSUM TABLE on each replica of the
   * primary), or what one of `accept` allows; anything else until the deadline fails the step.
   */
  | { kind: 'Verify'; expect: AnalysisCode; accept: VerifyAcceptance[] }
  | { kind: 'Alert'; severity: Severity; message: string }
  /** Run an operator hook (core/hooks.ts): a pre-failover hook may veto, a post hook is told. */
  | {
      kind: 'Hook';
      phase: HookPhase;
      hook: HookSpec;
      operation: OperationName;
      from: ServerId | null;
      to: ServerId | null;
      /** Told to the hook: the plan's reason, and whether an operator forced it. */
      reason: string;
      forced: boolean;
    };

export type StepKind = Step['kind'];

/**
 * What else ends a Verify. `replica-matter`: `primary` is the primary and what is left is a replica's
 * matter for the next run (ReplicaDown, RecoverNeeded, ReplicationLagging, ReplicaErrantTransactions)
 * — an operation that only promotes, rejoins a group's routers or reopens a primary fixes no replica.
 */
export type VerifyAcceptance = { kind: 'replica-matter'; primary: ServerId };

/** A Verify that accepts only `expect` (or Ok). */
const verify = (expect: AnalysisCode): Step => ({ kind: 'Verify', expect, accept: [] });

/** A Verify that also accepts a replica's matter left with `primary` the primary. */
const verifyPrimary = (expect: AnalysisCode, primary: ServerId): Step => ({
  kind: 'Verify',
  expect,
  accept: [{ kind: 'replica-matter', primary }],
});

/** What a CatchUp waits for (see the step). */
export type CatchUpTarget = { kind: 'relay-log' } | { kind: 'position-of'; server: ServerId };

export interface PlanContext {
  dryRun?: boolean;
  /** Operator override: act inside the anti-flap period. */
  force?: boolean;
  /** End of the anti-flap period, ms since 1970 (from the last operation's audit); null when none. */
  antiFlapUntil?: number | null;
  /** The run's clock, ms since 1970 (passed in: the planner is pure). */
  now: number;
  splitBrainPolicy?: 'alert-only' | 'resolve';
  /** A console request: only honoured when the analysis calls for that operation (or it is a switchover). */
  requested?: 'check' | 'status' | 'failover' | 'recover' | 'switchover';
  /** Switchover target; default: the single healthy replica. */
  switchoverTo?: ServerId;
  /** Servers in configuration order (switchover candidates). */
  servers?: ServerId[];
  /** The cluster runs semi-sync: operations that move the primary set it up on the new topology. */
  semiSync?: boolean;
}

export interface Plan {
  kind: 'none' | 'alert-only' | 'operation' | 'follow';
  operation?: OperationName;
  severity: Severity;
  steps: Step[];
  reason: string;
  code: AnalysisCode;
  dryRun: boolean;
  /** The operation the table asked for but anti-flap or a policy turned into an alert. */
  suppressed?: { operation: OperationName; because: string };
  /** Maintenance windows that shaped this plan (core/policy.ts applyMaintenance). */
  maintenance?: MaintenanceWindow[];
  /** An operator forced this plan (core/force.ts): target, second flag, reason, what it overrode. */
  forced?: Forced;
}

interface Rule {
  action: 'none' | 'alert' | 'operation' | 'follow';
  severity: Severity;
  operation?: OperationName;
  /** Why this code maps to this plan (goes to the report). */
  why: string;
  steps?: (a: Analysis) => Step[];
  /** For an operation that is safe only in some cases: why not here (the plan is then an alert). */
  refuse?: (a: Analysis) => string | null;
}

function salvageSteps(errant: ErrantSet[], server: ServerId, missingOn: ServerId): Step[] {
  const e = errant.find((x) => x.server === server && x.missingOn === missingOn);
  // Salvage always runs before an overwrite: when the difference is unknown (a server we could not
  // compare), the salvage step computes it itself (gtids null).
  return [{ kind: 'Salvage', server, missingOn, gtids: e?.gtids ?? null }];
}

function need(value: ServerId | null, what: string): ServerId {
  if (!value) throw new WatchdogError(`planner: the analysis names no ${what}`);
  return value;
}

/**
 * Promotion of `candidate` away from `old` (shared by failover, promote-dead and switchover). The
 * candidate catches up with what it received, or with everything `old` wrote when `waitFor` says so.
 */
function promoteSteps(
  candidate: ServerId,
  old: ServerId,
  fenceFirst: boolean,
  waitFor: CatchUpTarget = { kind: 'relay-log' },
): Step[] {
  return [
    { kind: 'Fence', server: old, ifReachable: !fenceFirst },
    { kind: 'CatchUp', server: candidate, waitFor },
    { kind: 'StopReplication', server: candidate },
    { kind: 'ResetReplication', server: candidate },
    { kind: 'Promote', server: candidate },
    { kind: 'WriteTarg', server: candidate },
    { kind: 'SwitchRouters', to: candidate, exclude: [old] },
    { kind: 'VerifyRouters', to: candidate },
  ];
}

function rebuildSteps(a: Analysis, server: ServerId, from: ServerId): Step[] {
  return [
    ...salvageSteps(a.errant, server, from),
    { kind: 'StopReplication', server },
    { kind: 'Reseed', server, from },
    { kind: 'StartReplication', server, from, gtidMode: 'slave_pos', keepReadOnly: true },
  ];
}

/**
 * Other replicas of the old primary (`affected` of PrimaryDead / FailoverNeeded) follow the new one;
 * GTID auto-positioning finds their place. One that holds transactions the new primary lacks is
 * salvaged and rebuilt instead, since it cannot follow without diverging.
 */
function repointSteps(a: Analysis, to: ServerId): Step[] {
  return a.affected.flatMap((server): Step[] =>
    a.errant.some((e) => e.server === server && e.missingOn === to)
      ? rebuildSteps(a, server, to)
      : [{ kind: 'StartReplication', server, from: to, gtidMode: 'current_pos', keepReadOnly: false }],
  );
}

/** THE table: every analysis code, its action and its steps. */
export const RULES: Record<AnalysisCode, Rule> = {
  Ok: { action: 'none', severity: 'info', why: 'nothing to do' },
  AllDown: {
    action: 'alert',
    severity: 'critical',
    why: 'no server and no router answers: there is nothing to promote and nothing to fence',
  },
  OperationInProgress: {
    action: 'follow',
    severity: 'info',
    why: 'an operation is recorded; only the election decides who acts (master, follower, takeover)',
    steps: () => [{ kind: 'JoinElection' }],
  },
  MultiSourceReplica: {
    action: 'alert',
    severity: 'warning',
    why: 'a multi-source replica is not a topology the watchdog manages: a rebuild would drop what its other sources bring, a promotion would make them sources of the primary; change nothing and tell the operator',
  },
  SplitBrain: {
    action: 'operation',
    operation: 'split-brain',
    severity: 'critical',
    why: 'writes reached two servers; resolving keeps the routers-majority side and rebuilds the other after salvaging its transactions',
    steps: (a) => {
      const keep = need(a.candidate, 'side to keep');
      const losers = a.affected.filter((s) => s !== keep);
      return [
        ...losers.map((s): Step => ({ kind: 'Fence', server: s, ifReachable: true })),
        { kind: 'WriteTarg', server: keep },
        { kind: 'SwitchRouters', to: keep, exclude: losers },
        { kind: 'VerifyRouters', to: keep },
        ...losers.flatMap((s) => rebuildSteps(a, s, keep)),
        verify('Ok'),
      ];
    },
  },
  RoutersBehind: {
    action: 'operation',
    operation: 'rejoin',
    severity: 'warning',
    why: "this group's routers missed a switch (they send writes to a read-only, fenced or unreachable server while every other group uses the primary): point them at that primary; nothing else changes",
    steps: (a) => {
      const to = need(a.candidate, 'primary to rejoin');
      return [
        { kind: 'WriteTarg', server: to },
        // The fenced servers of the journal are kept out as well (execute.ts).
        { kind: 'SwitchRouters', to, exclude: [] },
        { kind: 'VerifyRouters', to },
        // Ok, or only a replica's matter left for the next run (a rebuild the watchdog owes).
        verifyPrimary('Ok', to),
      ];
    },
  },
  PrimaryUnreachableRoutersOnPrimary: {
    action: 'alert',
    severity: 'warning',
    why: 'the routers still reach the primary; our view is the partitioned one (safety rule 1)',
  },
  UnconfirmedPrimaryFailure: {
    action: 'alert',
    severity: 'warning',
    why: 'a replica still receives from the primary, contradicting our view (safety rule 1); the next check decides',
  },
  PrimaryDead: {
    action: 'operation',
    operation: 'promote-dead',
    severity: 'critical',
    why: 'the routers moved to the replica and it confirms the primary is gone: stop its replication so stale events never arrive, make it the only router destination',
    steps: (a) => {
      const c = need(a.candidate, 'candidate');
      const old = need(a.oldPrimary, 'old primary');
      return [
        ...promoteSteps(c, old, false),
        ...repointSteps(a, c),
        // The dead server is a replica's matter now (rebuilt when it returns), and so is a third
        // server still pointing at it.
        verifyPrimary('ReplicaDown', c),
      ];
    },
  },
  FailoverNeeded: {
    action: 'operation',
    operation: 'failover',
    severity: 'critical',
    why: 'writes go to a replica while the old primary is up: fence the old primary, promote the replica, rebuild the old primary from it',
    steps: (a) => {
      const c = need(a.candidate, 'candidate');
      const old = need(a.oldPrimary, 'old primary');
      return [...promoteSteps(c, old, true), ...repointSteps(a, c), ...rebuildSteps(a, old, c), verify('Ok')];
    },
  },
  RoutersUnknown: {
    action: 'alert',
    severity: 'critical',
    why: "a group's routers are unknown (discovery failed or found nothing, or none answers): nobody knows where its writes go, so no server may be changed (safety rule 7)",
  },
  RoutersUnreachable: {
    action: 'alert',
    severity: 'critical',
    why: 'no router reaches a server: we cannot know where writes go, so nothing may be changed',
  },
  NotGtidEnabled: {
    action: 'alert',
    severity: 'warning',
    why: 'failover and recovery need GTID auto-positioning on every server',
  },
  RecoverNeeded: {
    action: 'operation',
    operation: 'recover',
    severity: 'warning',
    why: 'the primary is healthy and used by the routers; rebuild the broken replica from it (after salvaging its own transactions)',
    steps: (a) => {
      const p = need(a.primary, 'primary');
      return [...a.affected.flatMap((s) => rebuildSteps(a, s, p)), verify('Ok')];
    },
  },
  ReplicaErrantTransactions: {
    action: 'operation',
    operation: 'recover',
    severity: 'warning',
    why: 'a replica holds transactions the primary lacks (it diverged); salvage them and rebuild it before the divergence breaks replication or a failover promotes it',
    steps: (a) => {
      const p = need(a.primary, 'primary');
      return [...a.affected.flatMap((s) => rebuildSteps(a, s, p)), verify('Ok')];
    },
  },
  PrimaryReadOnly: {
    action: 'operation',
    operation: 'reopen',
    severity: 'critical',
    why: 'the routers send writes to a read-only server that cannot be a fenced or demoted one (every router uses it, it replicates from nobody, it is not fenced, every other server is read-only and behind it): open it again',
    refuse: (a) =>
      a.candidate
        ? null
        : 'the routers send writes to a read-only server that may be a fenced old primary; opening it is an operator decision',
    steps: (a) => {
      const server = need(a.candidate, 'server to open');
      return [{ kind: 'Promote', server }, verifyPrimary('Ok', server)];
    },
  },
  SemiSyncStuck: {
    action: 'alert',
    severity: 'critical',
    why: 'commits on the primary wait for a semi-sync acknowledgement and no semi-sync replica is connected: enable semi-sync on a replica (rpl_semi_sync_slave_enabled, then restart its IO thread) or lower rpl_semi_sync_master_timeout; nothing is promoted for it (the primary answers)',
  },
  ReplicaDown: {
    action: 'alert',
    severity: 'warning',
    why: 'a replica is down: nothing to do but alert (the seed "down" state)',
  },
  ReplicationLagging: {
    action: 'alert',
    severity: 'warning',
    why: 'a replica lags behind; a failover now would lose or wait for its backlog',
  },
};

/**
 * With semi-sync configured, every operation keeps it on the topology it leaves: a server it makes
 * writable (a promotion) waits for acknowledgements, and each server it starts replicating (repointed,
 * rebuilt, a demoted old primary) acknowledges, set before its StartReplication.
 */
export function withSemiSync(steps: readonly Step[]): Step[] {
  return steps.flatMap((s): Step[] => {
    if (s.kind === 'Promote') return [s, { kind: 'SemiSync', server: s.server, role: 'primary' }];
    if (s.kind === 'StartReplication') return [{ kind: 'SemiSync', server: s.server, role: 'replica' }, s];
    return [s];
  });
}

/**
 * A plan that starts replicas ends by putting them back into the routers as fallbacks behind the
 * primary they replicate from (RestoreRouters), once all of them run.
 */
export function withRestoredRouters(steps: readonly Step[]): Step[] {
  const started = steps.find((s) => s.kind === 'StartReplication');
  if (started?.kind !== 'StartReplication' || steps.some((s) => s.kind === 'RestoreRouters'))
    return [...steps];
  return [...steps, { kind: 'RestoreRouters', to: started.from }];
}

/** `host:port` with the port as a number: `db1:03306` is `db1:3306`, one server, one spelling. */
export function canonicalServerId(id: string): string {
  const at = id.lastIndexOf(':');
  if (at < 0 || !/^0*\d{1,5}$/.test(id.slice(at + 1))) return id;
  return `${id.slice(0, at)}:${Number(id.slice(at + 1))}`;
}

/** Every server a step names: what must be a configured server before the first step runs. */
export function stepServers(step: Step): ServerId[] {
  switch (step.kind) {
    case 'SwitchRouters':
      return [step.to, ...step.exclude];
    case 'VerifyRouters':
    case 'RestoreRouters':
      return [step.to];
    case 'Salvage':
      return [step.server, step.missingOn];
    case 'Reseed':
    case 'StartReplication':
      return [step.server, step.from];
    case 'JoinElection':
    case 'Verify':
    case 'Alert':
    case 'Hook':
      return [];
    default:
      return [step.server];
  }
}

function switchoverPlan(a: Analysis, ctx: PlanContext): Plan {
  const base = { code: a.code, dryRun: ctx.dryRun ?? false, severity: 'info' as const };
  const refuse = (reason: string): Plan => ({ ...base, kind: 'alert-only', steps: [], reason });
  if (a.code !== 'Ok' || !a.primary) {
    return refuse(`switchover refused: the cluster is ${a.code}, a switchover needs Ok`);
  }
  // A switchover fences a healthy primary first: whatever could make it fail afterwards is refused
  // before, so a mistyped target never leaves writes down.
  if (!ctx.force && ctx.antiFlapUntil != null && ctx.antiFlapUntil > ctx.now) {
    return refuse(
      `switchover refused: the anti-flap period runs until ${new Date(ctx.antiFlapUntil).toISOString()} (force with the target to override)`,
    );
  }
  const old = a.primary;
  const configured = ctx.servers ?? [];
  const candidates = configured.filter((s) => s !== old);
  const asked = ctx.switchoverTo === undefined ? undefined : canonicalServerId(ctx.switchoverTo);
  const to = asked ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!to || to === old) {
    return refuse(`switchover refused: name the target (replicas: ${candidates.join(', ') || 'none'})`);
  }
  if (!configured.includes(to)) {
    return refuse(
      `switchover refused: ${to} is not a configured server (replicas: ${candidates.join(', ') || 'none'})`,
    );
  }
  if (a.affected.includes(to) || a.errant.some((e) => e.server === to)) {
    return refuse(`switchover refused: ${to} is not a healthy replica (${a.description})`);
  }
  const steps: Step[] = [
    { kind: 'Fence', server: old, ifReachable: false },
    ...promoteSteps(to, old, true, { kind: 'position-of', server: old }).slice(1),
    { kind: 'StartReplication', server: old, from: to, gtidMode: 'current_pos', keepReadOnly: false },
    verify('Ok'),
  ];
  return {
    ...base,
    kind: 'operation',
    operation: 'switchover',
    reason: `planned switchover from ${old} to ${to}`,
    steps: withRestoredRouters(ctx.semiSync ? withSemiSync(steps) : steps),
  };
}

export function plan(a: Analysis, ctx: PlanContext): Plan {
  if (ctx.requested === 'switchover') return switchoverPlan(a, ctx);
  const rule = RULES[a.code];
  const dryRun = ctx.dryRun ?? false;
  const base = { code: a.code, dryRun, severity: rule.severity };
  const alert = (reason: string, extra: Partial<Plan> = {}): Plan => ({
    ...base,
    kind: 'alert-only',
    steps: [{ kind: 'Alert', severity: rule.severity, message: `${a.code}: ${reason}` }],
    reason,
    ...extra,
  });

  if (rule.action === 'none') {
    if (ctx.requested === 'failover' || ctx.requested === 'recover') {
      return {
        ...base,
        kind: 'none',
        steps: [],
        reason: `${ctx.requested} requested, but the cluster is Ok`,
      };
    }
    return { ...base, kind: 'none', steps: [], reason: rule.why };
  }
  if (rule.action === 'alert') return alert(rule.why);
  if (rule.action === 'follow') {
    return { ...base, kind: 'follow', steps: rule.steps?.(a) ?? [], reason: rule.why };
  }

  const operation = rule.operation!;
  const refusal = rule.refuse?.(a) ?? null;
  if (refusal) return alert(refusal);
  if (operation === 'split-brain' && (ctx.splitBrainPolicy ?? 'alert-only') === 'alert-only' && !ctx.force) {
    return alert(`${rule.why}; the split-brain policy is alert-only`, {
      suppressed: { operation, because: 'splitBrainPolicy is alert-only' },
    });
  }
  if (ctx.requested === 'failover' && operation !== 'failover' && operation !== 'promote-dead') {
    return alert(`failover requested, but the analysis calls for ${operation}`);
  }
  if (ctx.requested === 'recover' && operation !== 'recover') {
    return alert(`recover requested, but the analysis calls for ${operation}`);
  }
  const until = ctx.antiFlapUntil ?? null;
  // Which operations anti-flap holds back is operator policy (core/policy.ts): only automatic moves
  // of the primary; a recover, a rejoin or a reopen moves none.
  if (heldBackByAntiFlap(operation, until, ctx.now, ctx.force ?? false)) {
    const because = `anti-flap period until ${new Date(until!).toISOString()} (force with a target to act)`;
    return alert(`${rule.why}; suppressed: ${because}`, { suppressed: { operation, because } });
  }
  const steps = rule.steps?.(a) ?? [];
  return {
    ...base,
    kind: 'operation',
    operation,
    steps: withRestoredRouters(ctx.semiSync ? withSemiSync(steps) : steps),
    reason: rule.why,
  };
}
