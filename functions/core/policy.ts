/**
 * Operator policy: every rule an operator sets or a past operation imposes on what the watchdog may do,
 * decided in one place, pure (no I/O, no clock: `now` is passed in). The analysis says what the cluster
 * looks like; the planner maps that to steps; this module says which of those steps an operator's
 * decisions allow:
 *
 * - **Maintenance** (`applyMaintenance`): a server (or the whole cluster) an operator is working on is
 *   left alone until the window ends or expires. Nothing is fenced, salvaged, rebuilt, repointed or
 *   promoted onto it; a finding that concerns only such servers is reported as expected, not alerted.
 * - **Anti-flap** (`antiFlapHold`, `heldBackByAntiFlap`): after the watchdog moved the primary on its
 *   own (failover, promote-dead, split-brain resolved), a further automatic primary move waits for
 *   `antiFlapSeconds`. A planned move (a switchover, or a forced operation: an operator chose the new
 *   primary) opens no period and ends the one in force.
 * - **Promotion ranking** (`rankCandidates`, `fallbackOrder`): who may become primary and in which
 *   order routers fall back.
 * - **Force** (`forcedRequestProblem`): what an operator must name to override the rules above.
 *
 * The rule texts are in functions/operations/README.md ("Operator policy"); tests in
 * test/unit/core/policy.test.ts.
 */
import type { Analysis, AnalysisCode } from './analysis.js';
import type { GtidSet } from './gtid.js';
import type { OperationName, Plan, Step } from './planner.js';
import { type ServerId, type ServerObservation, serverTransactions } from './snapshot.js';

/**
 * What a server holds, for "does it hold every acknowledged transaction": MySQL `gtid_executed`;
 * MariaDB `gtid_current_pos` (per domain the last applied or written seq). Not the binary log state:
 * a replica rebuilt from a dump has a short binary log and would look as if it lacked the history
 * every other server logged.
 */
function appliedPosition(s: ServerObservation): GtidSet | null {
  if (s.flavor === 'mariadb') return s.gtid.currentPos.parsed ?? serverTransactions(s);
  return serverTransactions(s);
}

/** The scope of a maintenance window: one server (`host:port`) or the whole cluster. */
export type MaintenanceScope = ServerId | 'cluster';

export interface MaintenanceWindow {
  scope: MaintenanceScope;
  reason: string;
  /** ms since 1970. */
  startedAt: number;
  /** ms since 1970; a window always ends by itself (an operator who forgets does not disable the watchdog). */
  expiresAt: number;
  /** ms since 1970 when ended by an operator; null while not ended. */
  endedAt: number | null;
  /** Who started it (CLI user, console). */
  by: string;
}

/** A change of primary the watchdog made (the durable history anti-flap reads). */
export interface PrimaryChange {
  operation: OperationName;
  from: ServerId | null;
  to: ServerId | null;
  /** ms since 1970 when the operation completed. */
  at: number;
  /** An operator forced it (explicit target): a planned move, like a switchover. */
  forced: boolean;
  reason: string;
}

/** Operations that change which server is the primary. */
export const MOVES_PRIMARY: ReadonlySet<OperationName> = new Set<OperationName>([
  'failover',
  'promote-dead',
  'split-brain',
  'switchover',
]);

/** Operations the watchdog starts on its own to move the primary: these open an anti-flap period. */
const UNPLANNED: ReadonlySet<OperationName> = new Set<OperationName>([
  'failover',
  'promote-dead',
  'split-brain',
]);

export function activeMaintenance(windows: readonly MaintenanceWindow[], now: number): MaintenanceWindow[] {
  return windows.filter((w) => w.endedAt === null && w.startedAt <= now && now < w.expiresAt);
}

/** The window that covers `server` (a server window first, else the cluster's), or null. */
export function maintenanceOf(
  active: readonly MaintenanceWindow[],
  server: ServerId,
): MaintenanceWindow | null {
  return active.find((w) => w.scope === server) ?? active.find((w) => w.scope === 'cluster') ?? null;
}

function describeWindow(w: MaintenanceWindow): string {
  const what = w.scope === 'cluster' ? 'the cluster' : w.scope;
  return `${what} is in maintenance until ${new Date(w.expiresAt).toISOString()} (${w.reason}; started by ${w.by})`;
}

/** The servers a step changes (a Reseed's or StartReplication's `from` is only read). */
export function changedServers(step: Step): ServerId[] {
  switch (step.kind) {
    case 'SwitchRouters':
      return [step.to];
    case 'VerifyRouters':
    case 'RestoreRouters':
    case 'JoinElection':
    case 'Verify':
    case 'Alert':
    case 'Hook':
      return [];
    default:
      return [step.server];
  }
}

/** Findings about replicas only: a replica in maintenance makes them expected. */
const REPLICA_FINDINGS: ReadonlySet<AnalysisCode> = new Set<AnalysisCode>([
  'RecoverNeeded',
  'ReplicaErrantTransactions',
  'ReplicaDown',
  'ReplicationLagging',
  'NotGtidEnabled',
]);

const expected = (p: Plan, windows: MaintenanceWindow[], what: string): Plan => ({
  ...p,
  kind: 'none',
  severity: 'info',
  steps: [],
  reason: `expected during maintenance: ${what}; ${windows.map(describeWindow).join('; ')}`,
  maintenance: windows,
  ...(p.operation ? { suppressed: { operation: p.operation, because: 'maintenance' } } : {}),
});

/**
 * Applies maintenance windows to a plan. An operation in progress (`follow`) is left alone: it was
 * decided before the window and stopping it halfway is worse than finishing it.
 * - Cluster window: every operation and alert becomes "expected" (nothing runs).
 * - A recover drops the rebuild of each server in maintenance (and the final Verify, which would see
 *   that server still broken); with nothing left it is "expected".
 * - Any other operation that would change a server in maintenance (fence, promote, repoint, rebuild)
 *   is held back as an alert: the primary may need a decision only the operator can take.
 * - An alert whose finding concerns only servers in maintenance is "expected".
 */
export function applyMaintenance(p: Plan, a: Analysis, active: readonly MaintenanceWindow[]): Plan {
  if (active.length === 0 || p.kind === 'none' || p.kind === 'follow') return p;
  const cluster = active.filter((w) => w.scope === 'cluster');
  if (cluster.length > 0) return expected(p, cluster, `${a.code} (${a.affected.join(', ') || 'cluster'})`);
  const windowOf = (s: ServerId) => maintenanceOf(active, s);

  if (p.kind === 'alert-only') {
    const concerned = a.affected.length > 0 ? a.affected : a.primary ? [a.primary] : [];
    const windows = concerned.map(windowOf);
    if (REPLICA_FINDINGS.has(a.code) && concerned.length > 0 && windows.every((w) => w !== null)) {
      return expected(p, windows as MaintenanceWindow[], `${a.code} on ${concerned.join(', ')}`);
    }
    return p;
  }

  const touched = [...new Set(p.steps.flatMap(changedServers))].filter((s) => windowOf(s) !== null);
  if (touched.length === 0) return p;
  const windows = touched.map((s) => windowOf(s)!);
  if (p.operation === 'recover') {
    const kept = p.steps.filter(
      (s) => s.kind !== 'Verify' && !changedServers(s).some((server) => touched.includes(server)),
    );
    // Routers are restored behind the replicas the plan still starts, if any.
    const steps = kept.some((s) => s.kind === 'StartReplication')
      ? kept
      : kept.filter((s) => s.kind !== 'RestoreRouters');
    if (steps.length === 0) return expected(p, windows, `${a.code} on ${touched.join(', ')}`);
    return {
      ...p,
      steps,
      reason: `${p.reason}; left alone: ${windows.map(describeWindow).join('; ')}`,
      maintenance: windows,
    };
  }
  const because = `${p.operation} would change ${touched.join(', ')}, in maintenance: ${windows.map(describeWindow).join('; ')}`;
  return {
    ...p,
    kind: 'alert-only',
    steps: [{ kind: 'Alert', severity: p.severity, message: `${a.code}: ${because}` }],
    reason: because,
    maintenance: windows,
    suppressed: { operation: p.operation!, because: 'maintenance' },
  };
}

/**
 * The anti-flap period in force: the last primary change, when the watchdog made it on its own and it
 * is less than `periodSeconds` old. A switchover or a forced operation after it ends the period (the
 * operator chose the primary), so the death of a new primary right after a switchover is acted on.
 */
export function antiFlapHold(
  history: readonly PrimaryChange[],
  now: number,
  periodSeconds: number,
): { until: number; after: PrimaryChange } | null {
  if (periodSeconds <= 0) return null;
  const last = history
    .filter((h) => MOVES_PRIMARY.has(h.operation))
    .reduce<PrimaryChange | null>((m, h) => (m === null || h.at > m.at ? h : m), null);
  if (!last || !UNPLANNED.has(last.operation) || last.forced) return null;
  const until = last.at + periodSeconds * 1000;
  return now < until ? { until, after: last } : null;
}

/**
 * Whether anti-flap holds `operation` back. Only automatic primary moves are held: a recover, a rejoin
 * or a reopen moves no primary; a switchover is an operator's request; `force` overrides.
 */
export function heldBackByAntiFlap(
  operation: OperationName,
  until: number | null,
  now: number,
  force: boolean,
): boolean {
  return until !== null && now < until && !force && UNPLANNED.has(operation);
}

export type PromotionRule = 'prefer' | 'neutral' | 'never';

export interface PromotionOptions {
  /** Per server; missing = neutral. */
  rules: Readonly<Record<ServerId, PromotionRule>>;
  /** A replica further behind than this is not a candidate (null: no limit). */
  maxLagSeconds: number | null;
}

export interface RankedCandidate {
  server: ServerId;
  rule: PromotionRule;
  lagSeconds: number | null;
  /** Present (true) on a semi-sync replica: it acknowledged every write the primary waited for. */
  semiSync?: true;
}

/** A replica acknowledging as a semi-sync replica (active, or enabled with its state unknown). */
const semiSyncReplica = (s: ServerObservation): boolean =>
  s.semiSync?.replicaActive === true ||
  (s.semiSync?.replicaEnabled === true && s.semiSync.replicaActive === null);

export interface CandidateRanking {
  /** Best first. */
  candidates: RankedCandidate[];
  /** Servers that may not be promoted, and why. */
  excluded: Array<{ server: ServerId; because: string }>;
}

const RULE_ORDER: Record<PromotionRule, number> = { prefer: 0, neutral: 1, never: 2 };

/**
 * Ranks the reachable replicas for promotion: first the replicas that hold every transaction any other
 * reachable replica holds (acknowledged writes are never given up for a rule), then a semi-sync
 * replica (the one the primary waited for), then by rule (`prefer` before `neutral`; `never` is
 * excluded), then by least lag, then configuration order. A delayed
 * replica (`SQL_Delay` > 0) is excluded: it is behind on purpose.
 */
export function rankCandidates(
  replicas: readonly ServerObservation[],
  opts: PromotionOptions,
): CandidateRanking {
  const excluded: CandidateRanking['excluded'] = [];
  const eligible: ServerObservation[] = [];
  for (const s of replicas) {
    const rule = opts.rules[s.id] ?? 'neutral';
    const delay = s.replication?.sqlDelay ?? 0;
    const lag = s.replication?.secondsBehind ?? null;
    if (!s.reachable) excluded.push({ server: s.id, because: 'unreachable' });
    else if (rule === 'never') excluded.push({ server: s.id, because: 'promotion: never' });
    else if (delay > 0) excluded.push({ server: s.id, because: `delayed replica (SQL_Delay ${delay}s)` });
    else if (opts.maxLagSeconds !== null && lag !== null && lag > opts.maxLagSeconds)
      excluded.push({
        server: s.id,
        because: `${lag}s behind (maxLagSecondsForPromotion ${opts.maxLagSeconds})`,
      });
    else eligible.push(s);
  }
  // Transactions are compared across every reachable replica, excluded ones included: a candidate
  // missing what a `never` replica holds would still lose acknowledged writes.
  const reachable = replicas.filter((s) => s.reachable);
  const complete = (s: ServerObservation): boolean => {
    const mine = appliedPosition(s);
    return reachable.every((o) => {
      if (o === s) return true;
      const theirs = appliedPosition(o);
      if (!mine || !theirs || mine.flavor !== theirs.flavor) return true;
      return theirs.isSubsetOf(mine);
    });
  };
  const order = replicas.map((s) => s.id);
  const candidates = eligible
    .map((s) => ({
      server: s.id,
      rule: opts.rules[s.id] ?? ('neutral' as PromotionRule),
      lagSeconds: s.replication?.secondsBehind ?? null,
      complete: complete(s),
      ...(semiSyncReplica(s) ? { semiSync: true as const } : {}),
    }))
    .sort(
      (a, b) =>
        Number(b.complete) - Number(a.complete) ||
        Number(b.semiSync === true) - Number(a.semiSync === true) ||
        RULE_ORDER[a.rule] - RULE_ORDER[b.rule] ||
        (a.lagSeconds ?? Number.MAX_SAFE_INTEGER) - (b.lagSeconds ?? Number.MAX_SAFE_INTEGER) ||
        order.indexOf(a.server) - order.indexOf(b.server),
    )
    .map(({ complete: _complete, ...c }) => c);
  return { candidates, excluded };
}

/**
 * Router destinations: the primary first, then the fallbacks by promotion rule (`prefer` before
 * `neutral`, configuration order within a rule). `never` servers, delayed replicas and fenced servers
 * are no fallback: a router that fell back to one would send writes where promotion is refused.
 */
export function fallbackOrder(
  servers: readonly ServerId[],
  to: ServerId,
  rules: Readonly<Record<ServerId, PromotionRule>>,
  notFallback: readonly ServerId[] = [],
): ServerId[] {
  const rest = servers
    .filter((s) => s !== to && !notFallback.includes(s) && (rules[s] ?? 'neutral') !== 'never')
    .sort((a, b) => RULE_ORDER[rules[a] ?? 'neutral'] - RULE_ORDER[rules[b] ?? 'neutral']);
  return [to, ...rest];
}

/**
 * A forced failover or switchover: the target must be named, and it may not lack transactions another
 * reachable server holds unless the operator also says `allowDataLoss` (a second, separately named
 * flag). `caughtUpFrom` (a switchover: the old primary) is exempt: the CatchUp after its fence waits for
 * everything it holds. Returns the problem, or null when the request may run.
 */
export function forcedRequestProblem(
  request: { target: ServerId | undefined; allowDataLoss: boolean },
  servers: readonly ServerObservation[],
  options: { caughtUpFrom?: ServerId | null } = {},
): string | null {
  if (!request.target) {
    return 'a forced operation needs an explicit target ("target": "host:port", --target host:port)';
  }
  const target = servers.find((s) => s.id === request.target);
  if (!target) return `${request.target} is not a configured server`;
  if (!target.reachable) return `${request.target} does not answer: it cannot be promoted`;
  if (request.allowDataLoss) return null;
  const mine = appliedPosition(target);
  const source = servers.find((s) => s.id === options.caughtUpFrom && s.reachable);
  const caughtUp = source ? appliedPosition(source) : null;
  for (const o of servers) {
    if (o === target || o === source || !o.reachable) continue;
    const theirs = appliedPosition(o);
    if (!mine || !theirs || mine.flavor !== theirs.flavor) continue;
    let missing = theirs.difference(mine);
    if (caughtUp && caughtUp.flavor === missing.flavor) missing = missing.difference(caughtUp);
    if (!missing.isEmpty()) {
      return `${request.target} lacks ${missing.count()} transaction(s) ${o.id} holds (${missing.describe()}); add "allowDataLoss": true (--allow-data-loss) to promote it anyway`;
    }
  }
  return null;
}

/** Per-server rules from the configured servers (`promotion`, default neutral). */
export function promotionRules(
  servers: ReadonlyArray<{ id: ServerId; promotion?: PromotionRule }>,
): Record<ServerId, PromotionRule> {
  return Object.fromEntries(servers.map((s) => [s.id, s.promotion ?? 'neutral']));
}

/** Delayed replicas (`SQL_Delay` > 0) of a snapshot: no candidate, no router fallback. */
export function delayedReplicas(servers: readonly ServerObservation[]): ServerId[] {
  return servers.filter((s) => (s.replication?.sqlDelay ?? 0) > 0).map((s) => s.id);
}

/**
 * Applies the promotion rules to an analysis that promotes (`PrimaryDead`, `FailoverNeeded`): the
 * analysis names the replica the routers fell back to; when the ranking puts another replica first
 * (the routers' choice is `never`, delayed, lagging beyond the limit, or a `prefer` replica holds as
 * much), that one is promoted instead and the routers' choice follows it as a replica. Returns the
 * analysis to plan from, or a refusal (then the plan is an alert) when no replica may be promoted.
 */
export function applyPromotionRules(
  a: Analysis,
  servers: readonly ServerObservation[],
  opts: PromotionOptions,
): { analysis: Analysis; note?: string } | { refuse: string } {
  if ((a.code !== 'PrimaryDead' && a.code !== 'FailoverNeeded') || !a.candidate || !a.oldPrimary) {
    return { analysis: a };
  }
  const old = a.oldPrimary;
  const pool = servers.filter((s) => s.id !== old && (s.id === a.candidate || a.affected.includes(s.id)));
  const ranking = rankCandidates(pool, opts);
  const best = ranking.candidates[0];
  const why = ranking.excluded.map((e) => `${e.server}: ${e.because}`).join('; ');
  if (!best) return { refuse: `no replica may be promoted (${why || 'none reachable'})` };
  const complete = pool.every((s) => !s.reachable || !holdsMore(pool, s.id, best.server));
  if (!complete) {
    return {
      refuse: `the replica allowed to be promoted (${best.server}) lacks transactions another replica holds (${why}); promote by hand or force with a target`,
    };
  }
  if (best.server === a.candidate) return { analysis: a };
  const affected = [...a.affected.filter((s) => s !== best.server), a.candidate];
  return {
    analysis: {
      ...a,
      candidate: best.server,
      primary: best.server,
      affected,
      // Differences were computed against the routers' choice: the salvage step computes its own.
      errant: a.errant.filter((e) => e.server === old),
      evidence: [
        ...a.evidence,
        `promotion rules: ${best.server} is promoted instead of ${a.candidate} (${why || `${best.server} ranks first`})`,
      ],
    },
    note: `${best.server} promoted instead of ${a.candidate} by the promotion rules`,
  };
}

/** An operation plan the promotion rules refuse becomes an alert (other plans are kept). */
export function refusePromotion(p: Plan, because: string): Plan {
  if (p.kind !== 'operation' || !p.operation) return p;
  return {
    ...p,
    kind: 'alert-only',
    severity: 'critical',
    steps: [{ kind: 'Alert', severity: 'critical', message: `${p.code}: ${because}` }],
    reason: because,
    suppressed: { operation: p.operation, because: 'promotion rules' },
  };
}

/** `server` holds transactions `than` lacks. */
function holdsMore(pool: readonly ServerObservation[], server: ServerId, than: ServerId): boolean {
  const a = appliedPosition(pool.find((s) => s.id === server)!);
  const b = appliedPosition(pool.find((s) => s.id === than)!);
  if (!a || !b || a.flavor !== b.flavor) return false;
  return !a.difference(b).isEmpty();
}
