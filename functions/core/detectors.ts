/**
 * The analysis' detectors: small pure functions over the facts of ONE snapshot. `analyze()`
 * (core/analysis.ts) runs `DETECTORS` in order and the first that returns a verdict decides: the
 * order of that list IS the precedence contract (documented in analysis.ts). The last detector,
 * `primaryFindings`, runs once the primary is known and answers: it checks every other server with
 * `SERVER_CHECKS` and reports the most urgent finding (ranked by `ANALYSIS_CODES`), the others in `also`.
 *
 * Adding an analysis code: its name in `ANALYSIS_CODES` and `DESCRIPTIONS` (analysis.ts), its row in
 * the planner's `RULES`, and here one detector (or one server check) plus one line in its list.
 */
import type { Analysis, AnalysisCode, AnalyzeOptions, ErrantSet } from './analysis.js';
import type { GtidSet } from './gtid.js';
import {
  laterTransactions,
  type RouterObservation,
  type ServerId,
  type ServerObservation,
  type Snapshot,
  serverTransactions,
} from './snapshot.js';

/** What a detector decides: a code and the analysis fields it fills (the rest is filled by `analyze`). */
export type Verdict = { code: AnalysisCode } & Partial<
  Omit<Analysis, 'code' | 'description' | 'takenAt' | 'routers'>
>;

/** Everything the detectors read, computed once per snapshot. */
export interface Facts {
  snapshot: Snapshot;
  opts: AnalyzeOptions;
  maxLag: number;
  servers: ServerObservation[];
  byId: Map<ServerId, ServerObservation>;
  reachable: ServerObservation[];
  /** The analysing group's routers (every router when no group is given). */
  ownRouters: RouterObservation[];
  /** The other groups' routers (context for the groups-disagree detector). */
  otherRouters: RouterObservation[];
  /** Own routers that answer and land on a configured server. */
  answering: RouterObservation[];
  /** Votes: configured server -> number of own answering routers landing on it. */
  targets: Record<ServerId, number>;
  targetIds: ServerId[];
  routerEvidence: string[];
  unreachableEvidence: string[];
  /** `ANALYSIS_CODES`: ranks the findings around a known primary. */
  precedence: readonly AnalysisCode[];
}

export interface Detector {
  /** Names the rule in the decision order (analysis.ts). */
  name: string;
  /** The codes it may return (documentation, and checked by the unit tests). */
  codes: readonly AnalysisCode[];
  detect: (f: Facts) => Verdict | null;
}

export function facts(snapshot: Snapshot, opts: AnalyzeOptions, precedence: readonly AnalysisCode[]): Facts {
  const servers = snapshot.servers;
  const group = opts.group;
  const ownRouters =
    group === undefined ? snapshot.routers : snapshot.routers.filter((r) => r.group === group);
  const answering = ownRouters.filter((r) => r.reachable && r.routesTo !== null);
  const targets: Record<ServerId, number> = {};
  for (const r of answering) targets[r.routesTo!] = (targets[r.routesTo!] ?? 0) + 1;
  return {
    snapshot,
    opts,
    precedence,
    maxLag: opts.maxLagSeconds ?? 60,
    servers,
    byId: new Map(servers.map((s) => [s.id, s])),
    reachable: servers.filter((s) => s.reachable),
    ownRouters,
    otherRouters: group === undefined ? [] : snapshot.routers.filter((r) => r.group !== group),
    answering,
    targets,
    targetIds: Object.keys(targets),
    routerEvidence: ownRouters.map(describeRouter),
    unreachableEvidence: servers
      .filter((s) => !s.reachable)
      .map(
        (s) =>
          `${s.id} unreachable${s.error?.stage === 'query' ? ' (connected, but a query failed)' : ''}: ${s.error?.message ?? 'no answer'}${s.error?.code ? ` (${s.error.code})` : ''}`,
      ),
  };
}

// ---------------------------------------------------------------------------------------------------
// Helpers (pure)

function describeRouter(r: RouterObservation): string {
  if (r.landed) {
    return `router ${r.group}/${r.id} -> ${r.routesTo ?? 'an unknown server'} (server_id ${r.landed.serverId}, port ${r.landed.port}${r.matchedBy ? `, matched by ${r.matchedBy}` : ''})`;
  }
  return `router ${r.group}/${r.id} reaches no server: ${r.error?.message ?? 'no answer'}`;
}

export function describeReplication(s: ServerObservation): string {
  const r = s.replication;
  if (!r) return `${s.id} is not a replica`;
  const errs = [
    r.lastIoErrno ? `IO error ${r.lastIoErrno}: ${r.lastIoError}` : '',
    r.lastSqlErrno ? `SQL error ${r.lastSqlErrno}: ${r.lastSqlError}` : '',
  ].filter(Boolean);
  const source = r.sourceId
    ? `${r.sourceId}${r.sourceMatchedBy ? ` (as ${r.sourceHost}:${r.sourcePort}, matched by ${r.sourceMatchedBy})` : ''}`
    : `${r.sourceHost}:${r.sourcePort} (not a configured server)`;
  return `${s.id} replicates from ${source}: IO ${r.ioRunning}, SQL ${r.sqlRunning}, ${r.secondsBehind === null ? 'lag unknown' : `${r.secondsBehind}s behind`}${errs.length ? `; ${errs.join('; ')}` : ''}`;
}

/** The replica's own IO thread says its source is gone (not merely slow). */
export function ioThreadConfirmsSourceGone(s: ServerObservation): boolean {
  const r = s.replication;
  if (!r) return false;
  if (r.ioRunning === 'No') return true;
  // 'Connecting' with an error: the IO thread lost its source and its reconnects fail.
  return r.ioRunning !== 'Yes' && r.lastIoErrno !== 0;
}

function replicaHealthy(s: ServerObservation, primary: ServerId): boolean {
  const r = s.replication;
  return (
    !!r &&
    r.sourceId === primary &&
    r.sqlRunning === 'Yes' &&
    r.lastSqlErrno === 0 &&
    (r.ioRunning === 'Yes' || (r.ioRunning === 'Connecting' && r.lastIoErrno === 0))
  );
}

function diff(a: GtidSet | null, b: GtidSet | null): GtidSet | null {
  if (!a || !b || a.flavor !== b.flavor) return null;
  return a.difference(b);
}

/**
 * The transactions `s` holds that `other` lacks. `other`'s later read is used when one was taken: a
 * transaction `s` received from `other` after `other` was first read is not one `other` lacks.
 */
export function errantOf(s: ServerObservation, other: ServerObservation): ErrantSet | null {
  const d = diff(serverTransactions(s), laterTransactions(other));
  if (!d || d.isEmpty()) return null;
  return { server: s.id, missingOn: other.id, gtids: d.describe(), count: d.count().toString() };
}

const isErrant = (e: ErrantSet | null): e is ErrantSet => !!e;

const describeErrant = (e: ErrantSet): string =>
  `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks: ${e.gtids}`;

/** A reachable server that replicates from another configured server. */
export function sourceOf(s: ServerObservation): ServerId | null {
  const src = s.replication?.sourceId ?? null;
  return src && src !== s.id ? src : null;
}

const writable = (s: ServerObservation): boolean =>
  s.reachable && s.readOnly === false && s.superReadOnly !== true;

const isHead = (s: ServerObservation): boolean => s.reachable && sourceOf(s) === null;

const fenced = (f: Facts, id: ServerId): boolean => (f.opts.fenced ?? []).includes(id);

/** The single server every answering router uses, or null. */
const unanimousTarget = (f: Facts): ServerId | null => (f.targetIds.length === 1 ? f.targetIds[0]! : null);

/** The most advanced reachable replica of `source` (superset of the others' transactions), config order on ties. */
function bestReplicaOf(source: ServerId, servers: ServerObservation[]): ServerObservation | null {
  const replicas = servers.filter((s) => s.reachable && sourceOf(s) === source);
  let best: ServerObservation | null = null;
  for (const s of replicas) {
    if (!best) {
      best = s;
      continue;
    }
    const a = serverTransactions(s);
    const b = serverTransactions(best);
    if (a && b && a.flavor === b.flavor && b.isSubsetOf(a) && !a.isSubsetOf(b)) best = s;
  }
  return best;
}

/**
 * The side of a split brain a `resolve` policy keeps: the server most routers use; ties go to the
 * configured primary, then to the lowest id (every watchdog computes the same answer).
 */
function sideToKeep(votes: Record<ServerId, number>, configuredPrimary: ServerId | null): ServerId {
  return Object.keys(votes).sort(
    (a, b) =>
      votes[b]! - votes[a]! ||
      Number(b === configuredPrimary) - Number(a === configuredPrimary) ||
      (a < b ? -1 : 1),
  )[0]!;
}

/** The active–passive co-primary of `s`: its source, when that replicates from `s` (circular). */
function coPrimaryOf(f: Facts, s: ServerObservation): ServerObservation | null {
  const src = sourceOf(s);
  const other = src ? f.byId.get(src) : undefined;
  return other?.reachable && sourceOf(other) === s.id ? other : null;
}

/** The other reachable replicas of `old`, to repoint to `candidate` (and what they hold that it lacks). */
function followers(f: Facts, candidate: ServerObservation, old: ServerId) {
  const others = f.servers.filter((x) => x.id !== candidate.id && x.reachable && sourceOf(x) === old);
  return {
    affected: others.map((x) => x.id),
    errant: others.map((x) => errantOf(x, candidate)).filter(isErrant),
  };
}

/**
 * The one rule for a primary we cannot reach: when the most advanced replica's own IO thread confirms
 * its source is gone, PrimaryDead with that replica as the candidate; otherwise null (the caller says
 * what an unconfirmed failure is in its case).
 */
function confirmedDeath(f: Facts, old: ServerId, evidence: string[]): Verdict | null {
  const best = bestReplicaOf(old, f.servers);
  if (!best || !ioThreadConfirmsSourceGone(best)) return null;
  return {
    code: 'PrimaryDead',
    candidate: best.id,
    oldPrimary: old,
    ...followers(f, best, old),
    evidence: [evidence[0]!, describeReplication(best), ...evidence.slice(1)],
  };
}

/**
 * Errors of a router that did not answer at all: nothing accepted the connection, or nothing spoke
 * within the connect timeout. A router that accepts and then closes (it reaches no server) answered.
 */
const NOT_ANSWERING = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** A backend group whose routers are unknown, and why. */
export interface UnknownRouters {
  group: string;
  reason: string;
}

/**
 * Safety rule 7's detector: the groups whose routers are unknown in this snapshot (discovery failed or
 * found nothing, or none of the group's routers answers). Shared by the analysis and by the operation
 * guard that looks again right before a step that changes a server.
 */
export function unknownRouterGroups(
  snapshot: Pick<Snapshot, 'groups' | 'routers' | 'discovery'>,
): UnknownRouters[] {
  const out: UnknownRouters[] = [];
  for (const group of snapshot.groups) {
    const found = snapshot.discovery?.find((d) => d.group === group);
    const routers = snapshot.routers.filter((r) => r.group === group);
    if (found?.error) {
      out.push({ group, reason: `router discovery failed: ${found.error}` });
    } else if (found && routers.length === 0) {
      out.push({
        group,
        reason:
          found.source === 'ec2-tag' ? "no running instance carries the group's tag" : 'no router configured',
      });
    } else if (
      routers.length > 0 &&
      routers.every((r) => !r.reachable && !r.landed && NOT_ANSWERING.has(r.error?.code ?? ''))
    ) {
      out.push({
        group,
        reason: `none of its ${routers.length} router(s) answers (${[...new Set(routers.map((r) => r.error?.code))].join(', ')})`,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The detectors, in precedence order (the numbers are those of the decision order in analysis.ts).

/** 1. No server answers us and no router lands anywhere. */
const allDown: Detector = {
  name: 'all-down',
  codes: ['AllDown'],
  detect: (f) =>
    f.reachable.length === 0 && f.answering.length === 0
      ? { code: 'AllDown', evidence: [...f.unreachableEvidence, ...f.routerEvidence] }
      : null,
};

/** 1b. Some group's routers are unknown (safety rule 7): ranked above an operation in progress. */
const routersUnknown: Detector = {
  name: 'routers-unknown',
  codes: ['RoutersUnknown'],
  detect: (f) => {
    const unknown = unknownRouterGroups(f.snapshot);
    if (unknown.length === 0) return null;
    return {
      code: 'RoutersUnknown',
      primary: unanimousTarget(f),
      evidence: [
        ...unknown.map((u) => `group ${u.group}: ${u.reason}`),
        ...f.routerEvidence,
        ...f.unreachableEvidence,
      ],
    };
  },
};

/** 2. A coordination operation is recorded: the election decides who acts. */
const operationInProgress: Detector = {
  name: 'operation-in-progress',
  codes: ['OperationInProgress'],
  detect: (f) => {
    const withOp = f.reachable.filter((s) => s.operation);
    if (withOp.length === 0) return null;
    const ev = withOp.map((s) => {
      const o = s.operation!;
      const lease =
        o.leaseExpiresInMs === null
          ? 'lease unknown'
          : o.leaseExpiresInMs < 0
            ? `lease expired ${-o.leaseExpiresInMs} ms ago (a participant may take over)`
            : `lease valid for ${o.leaseExpiresInMs} ms`;
      return `${s.id}: operation ${o.op ?? '?'} epoch ${o.epoch}, master ${o.master ?? '(none yet)'}, ${lease}, signals ${o.signals.map((x) => `${x.signal} ${x.value}`).join(', ') || '(none)'}`;
    });
    return {
      code: 'OperationInProgress',
      evidence: [...ev, ...f.routerEvidence],
      affected: withOp.map((s) => s.id),
      primary: unanimousTarget(f) ?? f.snapshot.configuredPrimary,
    };
  },
};

/** 2b. A multi-source replica: not a topology the watchdog manages; nothing may change. */
const multiSource: Detector = {
  name: 'multi-source',
  codes: ['MultiSourceReplica'],
  detect: (f) => {
    const multi = f.reachable.filter((s) => (s.channels?.length ?? 0) > 1);
    if (multi.length === 0) return null;
    return {
      code: 'MultiSourceReplica',
      primary: unanimousTarget(f) ?? f.snapshot.configuredPrimary,
      affected: multi.map((s) => s.id),
      evidence: [
        ...multi.map(
          (s) =>
            `${s.id} replicates from ${s.channels!.length} sources: ${s
              .channels!.map(
                (c) =>
                  `${c.name === '' ? 'default' : `'${c.name}'`} from ${c.sourceId ?? `${c.sourceHost}:${c.sourcePort} (not a configured server)`}`,
              )
              .join(', ')}`,
        ),
        'the watchdog manages one source per replica: remove the extra channels/connections (or take the server out of the configuration)',
        ...f.routerEvidence,
      ],
    };
  },
};

/** 3a. Answering routers disagree on the target: writes go to two servers. */
const routersDisagree: Detector = {
  name: 'routers-disagree',
  codes: ['SplitBrain'],
  detect: (f) => {
    if (f.targetIds.length <= 1) return null;
    const heads = f.targetIds.map((id) => f.byId.get(id)).filter((s): s is ServerObservation => !!s);
    const errant: ErrantSet[] = [];
    for (const a of heads)
      for (const b of heads)
        if (a !== b && a.reachable && b.reachable) {
          const e = errantOf(a, b);
          if (e) errant.push(e);
        }
    return {
      code: 'SplitBrain',
      candidate: sideToKeep(f.targets, f.snapshot.configuredPrimary),
      evidence: [
        `routers disagree: ${f.targetIds.map((id) => `${f.targets[id]} -> ${id}`).join(', ')}`,
        ...f.routerEvidence,
        ...errant.map(describeErrant),
      ],
      affected: f.targetIds,
      errant,
    };
  },
};

/**
 * 3c. This group's routers against every other group's: a group that missed a router switch
 * (RoutersBehind), or two writable heads each used by some group (SplitBrain).
 */
const groupsDisagree: Detector = {
  name: 'groups-disagree',
  codes: ['RoutersBehind', 'SplitBrain'],
  detect: (f) => {
    const otherAnswering = f.otherRouters.filter((r) => r.reachable && r.routesTo !== null);
    const otherTargets = [...new Set(otherAnswering.map((r) => r.routesTo!))];
    const rId = unanimousTarget(f);
    if (!rId || otherTargets.length !== 1 || otherTargets[0] === rId) return null;
    const pId = otherTargets[0]!;
    const r = f.byId.get(rId);
    const p = f.byId.get(pId);
    if (!r || !p || !writable(p) || !isHead(p)) return null;
    const ev = [
      `this group's ${f.answering.length} answering router(s) send writes to ${rId}; the other groups' ${otherAnswering.length} to ${pId} (writable, replicates from nobody)`,
      ...f.routerEvidence,
      ...f.otherRouters.map(describeRouter),
    ];
    const fencedR = fenced(f, rId);
    if (!r.reachable || !writable(r) || fencedR) {
      return {
        code: 'RoutersBehind',
        primary: pId,
        candidate: pId,
        affected: [rId],
        evidence: [
          !r.reachable
            ? `${rId} does not answer us`
            : fencedR
              ? `${rId} was fenced by the watchdog and is owed a rebuild`
              : `${rId} is read-only: writes through this group fail`,
          ...ev,
        ],
      };
    }
    if (!isHead(r)) return null;
    const keep = sideToKeep(
      { [rId]: f.answering.length, [pId]: otherAnswering.length },
      f.snapshot.configuredPrimary,
    );
    const errant = [errantOf(r, p), errantOf(p, r)].filter(isErrant);
    return {
      code: 'SplitBrain',
      primary: keep,
      candidate: keep,
      affected: [rId, pId],
      errant,
      evidence: [
        `writes reach ${rId} through this group and ${pId} through the other groups; both are writable heads`,
        ...ev,
        ...errant.map(describeErrant),
      ],
    };
  },
};

/** 4d. The routers agree on a server that does not answer us: our view is the partitioned one. */
const routersOnUnreachable: Detector = {
  name: 'routers-on-unreachable',
  codes: ['PrimaryUnreachableRoutersOnPrimary'],
  detect: (f) => {
    const rId = unanimousTarget(f);
    if (!rId || f.byId.get(rId)!.reachable) return null;
    return {
      code: 'PrimaryUnreachableRoutersOnPrimary',
      primary: rId,
      evidence: [
        `all ${f.answering.length} answering routers reach ${rId}, which does not answer us`,
        ...f.unreachableEvidence,
        ...f.routerEvidence,
      ],
    };
  },
};

/** 4a-c. The routers agree on a replica R of S: writes went to R. */
const routersOnReplica: Detector = {
  name: 'routers-on-replica',
  codes: ['FailoverNeeded', 'PrimaryDead', 'UnconfirmedPrimaryFailure'],
  detect: (f) => {
    const rId = unanimousTarget(f);
    const r = rId ? f.byId.get(rId)! : null;
    const src = r ? sourceOf(r) : null;
    // R and S replicating from each other are active–passive co-primaries: no failover (R is the primary).
    if (!rId || !r || !src || coPrimaryOf(f, r)) return null;
    const old = f.byId.get(src);
    // Other replicas of the old primary must follow the promoted one (3-server clusters).
    const siblings = f.servers.filter((x) => x.id !== rId && x.reachable && sourceOf(x) === src);
    const siblingErrant = siblings.map((x) => errantOf(x, r)).filter(isErrant);
    const ev = [
      `all ${f.answering.length} answering routers send writes to ${rId}, a replica of ${src}`,
      describeReplication(r),
      ...siblings.map((x) => `${x.id} also replicates from ${src}: it must be repointed to ${rId}`),
      ...siblingErrant.map((e) => `${describeErrant(e)} (salvage before repointing)`),
      ...f.routerEvidence,
    ];
    const affected = siblings.map((x) => x.id);
    const moved = { primary: rId, candidate: rId, oldPrimary: src };
    if (old?.reachable) {
      const errant = [errantOf(old, r), ...siblingErrant].filter(isErrant);
      return {
        code: 'FailoverNeeded',
        ...moved,
        affected,
        evidence: [
          ...ev,
          `${src} is up (old primary; must be fenced)`,
          ...errant.map(
            (e) => `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks (to salvage): ${e.gtids}`,
          ),
        ],
        errant,
      };
    }
    if (ioThreadConfirmsSourceGone(r)) {
      return {
        code: 'PrimaryDead',
        ...moved,
        affected,
        errant: siblingErrant,
        evidence: [...ev, ...f.unreachableEvidence],
      };
    }
    return {
      code: 'UnconfirmedPrimaryFailure',
      ...moved,
      evidence: [
        ...ev,
        ...f.unreachableEvidence,
        `${rId}'s IO thread still runs against ${src}: the primary is alive`,
      ],
    };
  },
};

/** 5. Routers are configured but none lands anywhere. */
const routersReachNothing: Detector = {
  name: 'routers-reach-nothing',
  codes: ['PrimaryDead', 'RoutersUnreachable'],
  detect: (f) => {
    if (f.targetIds.length > 0 || f.ownRouters.length === 0) return null;
    const p = f.snapshot.configuredPrimary ? f.byId.get(f.snapshot.configuredPrimary) : undefined;
    const dead =
      p && !p.reachable
        ? confirmedDeath(f, p.id, [
            'no router reaches a server',
            ...f.unreachableEvidence,
            ...f.routerEvidence,
          ])
        : null;
    return (
      dead ?? {
        code: 'RoutersUnreachable',
        primary: p?.id ?? null,
        evidence: [
          `none of ${f.ownRouters.length} routers reaches a server`,
          ...f.routerEvidence,
          ...f.unreachableEvidence,
        ],
      }
    );
  },
};

/** 5'. No router observed (a CLI run without router endpoints): the configured primary decides. */
const noRouterObserved: Detector = {
  name: 'no-router-observed',
  codes: ['RoutersUnreachable', 'PrimaryDead', 'UnconfirmedPrimaryFailure'],
  detect: (f) => {
    if (f.targetIds.length > 0 || f.ownRouters.length > 0) return null;
    const p = f.snapshot.configuredPrimary ? f.byId.get(f.snapshot.configuredPrimary) : undefined;
    if (!p) return { code: 'RoutersUnreachable', evidence: ['no router observed and no configured primary'] };
    if (p.reachable) return null;
    return (
      confirmedDeath(f, p.id, ['no router observed', ...f.unreachableEvidence]) ?? {
        code: 'UnconfirmedPrimaryFailure',
        primary: p.id,
        evidence: ['no router observed', ...f.unreachableEvidence],
      }
    );
  },
};

// ---------------------------------------------------------------------------------------------------
// 3b and 6: the primary is known and answers. Each server check looks at one other server.

/** The primary once the detectors above found nothing: the routers' target, else the configured one. */
export function knownPrimary(f: Facts): ServerObservation {
  const id = unanimousTarget(f) ?? f.snapshot.configuredPrimary!;
  return f.byId.get(id)!;
}

/**
 * One check of one server, giving evidence lines or null. Scopes run in this order: `every` reachable
 * server (the primary included), then the `primary`, then each other server (`replicas`, in
 * configuration order) through the checks in list order; a `settles` check that fires hides the later
 * ones for that server.
 */
export interface ServerCheck {
  name: string;
  code: AnalysisCode;
  scope: 'every' | 'primary' | 'replicas';
  settles?: boolean;
  check: (s: ServerObservation, primary: ServerObservation, f: Facts) => string[] | null;
}

/** 3b. Two heads, each with writes the other lacks: both took writes independently. */
function headsDiverged(s: ServerObservation, primary: ServerObservation): [ErrantSet, ErrantSet] | null {
  if (!s.reachable) return null;
  const toPrimary = errantOf(s, primary);
  const fromPrimary = errantOf(primary, s);
  // A fenced (read-only) server is not a competing writer: its extra transactions are a recover
  // matter (salvaged before the reseed), not a split brain.
  if (sourceOf(s) === null && sourceOf(primary) !== s.id && writable(s) && toPrimary && fromPrimary)
    return [toPrimary, fromPrimary];
  return null;
}

export const SERVER_CHECKS: readonly ServerCheck[] = [
  {
    name: 'gtid-mode-off',
    code: 'NotGtidEnabled',
    scope: 'every',
    check: (s) =>
      s.flavor === 'mysql' && s.gtidMode !== 'ON' ? [`${s.id} gtid_mode=${s.gtidMode ?? 'unknown'}`] : null,
  },
  {
    name: 'primary-read-only',
    code: 'PrimaryReadOnly',
    scope: 'primary',
    check: (p) =>
      p.readOnly || p.superReadOnly
        ? [
            `${p.id} read_only=${p.readOnly ? 'ON' : 'OFF'}${p.superReadOnly ? ', super_read_only=ON' : ''} while routers send writes to it`,
          ]
        : null,
  },
  {
    name: 'semi-sync-stuck',
    code: 'SemiSyncStuck',
    scope: 'primary',
    check: (p, _p, f) => {
      const semi = p.semiSync;
      if (!semi?.primaryEnabled || semi.primaryActive === false) return null;
      if ((semi.waitSessions ?? 0) === 0 || (semi.clients ?? 0) > 0) return null;
      const able = f.servers.filter((s) => s.id !== p.id && s.semiSync?.replicaEnabled).map((s) => s.id);
      return [
        `${p.id} waits for semi-sync acknowledgements: ${semi.waitSessions} session(s) waiting, ${semi.clients ?? 0} semi-sync replica(s) connected (timeout ${semi.timeoutMs ?? '?'} ms)`,
        able.length > 0
          ? `semi-sync enabled but not acknowledging: ${able.join(', ')}`
          : 'no replica has semi-sync enabled',
      ];
    },
  },
  {
    name: 'replica-down',
    code: 'ReplicaDown',
    scope: 'replicas',
    settles: true,
    check: (s) => (s.reachable ? null : [`${s.id} unreachable: ${s.error?.message ?? 'no answer'}`]),
  },
  {
    name: 'heads-diverged',
    code: 'SplitBrain',
    scope: 'replicas',
    settles: true,
    check: (s, p) => {
      const d = headsDiverged(s, p);
      return d
        ? [`${s.id} and ${p.id} are both heads (neither replicates from the other)`, ...d.map(describeErrant)]
        : null;
    },
  },
  {
    name: 'no-gtid-auto-position',
    code: 'NotGtidEnabled',
    scope: 'replicas',
    check: (s) =>
      s.replication?.usingGtid === 'No' ? [`${s.id} replicates without GTID auto-positioning`] : null,
  },
  {
    name: 'replication-broken',
    code: 'RecoverNeeded',
    scope: 'replicas',
    settles: true,
    check: (s, p) => {
      if (replicaHealthy(s, p.id)) return null;
      const r = s.replication;
      const why = !r
        ? `${s.id} does not replicate at all`
        : r.sourceId !== p.id
          ? `${s.id} replicates from ${r.sourceId ?? `${r.sourceHost}:${r.sourcePort}`}, not from the primary ${p.id}`
          : describeReplication(s);
      const e = errantOf(s, p);
      return [e ? `${why}; it also has ${e.count} transaction(s) the primary lacks: ${e.gtids}` : why];
    },
  },
  {
    name: 'replica-errant',
    code: 'ReplicaErrantTransactions',
    scope: 'replicas',
    check: (s, p) => {
      const e = errantOf(s, p);
      return e ? [describeErrant(e)] : null;
    },
  },
  {
    name: 'replication-lagging',
    code: 'ReplicationLagging',
    scope: 'replicas',
    check: (s, _p, f) => {
      const lag = s.replication?.secondsBehind ?? null;
      return lag !== null && lag > f.maxLag ? [`${s.id} is ${lag}s behind (limit ${f.maxLag}s)`] : null;
    },
  },
];

interface Finding {
  code: AnalysisCode;
  servers: ServerId[];
  evidence: string[];
}

/** Every finding about the cluster around `primary`, most urgent first (by `ANALYSIS_CODES`). */
export function findingsAround(f: Facts, primary: ServerObservation): Finding[] {
  const findings: Finding[] = [];
  const add = (c: ServerCheck, server: ServerId, evidence: string[]): void => {
    // Each pair of diverged heads is its own finding; other findings gather their servers.
    const found = c.code === 'SplitBrain' ? undefined : findings.find((x) => x.code === c.code);
    if (found) {
      found.servers.push(server);
      found.evidence.push(...evidence);
    } else findings.push({ code: c.code, servers: [server], evidence: [...evidence] });
  };
  const run = (c: ServerCheck, s: ServerObservation): boolean => {
    const ev = c.check(s, primary, f);
    if (ev) add(c, s.id, ev);
    return !!ev && c.settles === true;
  };
  for (const c of SERVER_CHECKS.filter((x) => x.scope === 'every')) for (const s of f.reachable) run(c, s);
  for (const c of SERVER_CHECKS.filter((x) => x.scope === 'primary')) run(c, primary);
  const perReplica = SERVER_CHECKS.filter((x) => x.scope === 'replicas');
  for (const s of f.servers) if (s.id !== primary.id) perReplica.some((c) => run(c, s));
  const rank = (c: AnalysisCode): number => f.precedence.indexOf(c);
  return findings.sort((a, b) => rank(a.code) - rank(b.code));
}

/** Transactions each other server holds that the primary lacks (and, for diverged heads, the reverse). */
function errantAround(f: Facts, primary: ServerObservation): ErrantSet[] {
  return f.servers.flatMap((s): ErrantSet[] => {
    if (s.id === primary.id || !s.reachable) return [];
    return headsDiverged(s, primary) ?? [errantOf(s, primary)].filter(isErrant);
  });
}

/**
 * 3b and 6. The primary is known and answers: the most urgent finding about it or another server,
 * the lower ones in `also`; none -> Ok. PrimaryReadOnly names the primary as `candidate` only when
 * its read-only state cannot be a fence or a demotion.
 */
function primaryFindings(f: Facts): Verdict {
  const primary = knownPrimary(f);
  const pid = primary.id;
  const findings = findingsAround(f, primary);
  const errant = errantAround(f, primary);
  const top = findings[0];
  const context = [
    `primary ${pid}${f.targetIds.length === 1 ? ` (all ${f.answering.length} answering routers)` : ' (configured; no router observed)'}`,
    ...(f.snapshot.configuredPrimary && f.snapshot.configuredPrimary !== pid
      ? [`the configuration names ${f.snapshot.configuredPrimary} as primary; the routers use ${pid}`]
      : []),
    ...coPrimaryEvidence(f, primary),
  ];
  if (!top) {
    return {
      code: 'Ok',
      primary: pid,
      evidence: [
        ...context,
        ...f.servers.filter((s) => s.id !== pid).map(describeReplication),
        ...f.routerEvidence,
      ],
    };
  }
  const also = [...new Set(findings.slice(1).map((x) => x.code))].filter((c) => c !== top.code);
  if (top.code === 'PrimaryReadOnly') {
    const reopen = reopenBlockers(f, primary);
    return {
      code: 'PrimaryReadOnly',
      primary: pid,
      candidate: reopen.length === 0 ? pid : null,
      affected: top.servers,
      errant,
      evidence: [
        ...top.evidence,
        reopen.length === 0
          ? `safe to open: every router uses ${pid}, it replicates from nobody, it is not fenced, and every other server is read-only and holds nothing it lacks`
          : `not opened automatically: ${reopen.join('; ')}`,
        ...context,
        ...f.routerEvidence,
      ],
      also,
    };
  }
  return {
    code: top.code,
    primary: pid,
    // SplitBrain between heads: keep the routers' primary (the policy may resolve towards it).
    candidate: top.code === 'SplitBrain' ? pid : null,
    affected: top.servers,
    errant,
    evidence: [...top.evidence, ...context, ...f.routerEvidence],
    also,
  };
}

/** Co-primaries are reported, never rebuilt: the primary's own (reverse) replication is part of it. */
function coPrimaryEvidence(f: Facts, primary: ServerObservation): string[] {
  const passive = coPrimaryOf(f, primary);
  if (!passive) return [];
  return [
    `co-primary: ${primary.id} and ${passive.id} replicate from each other (active–passive, circular replication); ${primary.id} is active (the routers' target), ${passive.id} passive; kept as is`,
    describeReplication(primary),
  ];
}

/** Why a read-only primary may be a fence or a demotion (empty: safe to open it again). */
function reopenBlockers(f: Facts, primary: ServerObservation): string[] {
  const everyRouter =
    f.answering.length > 0 &&
    f.otherRouters.every((r) => !r.reachable || r.routesTo === null || r.routesTo === primary.id);
  const nothingMore = (s: ServerObservation): boolean =>
    diff(serverTransactions(s), laterTransactions(primary))?.isEmpty() === true;
  const othersBehind = f.servers
    .filter((s) => s.id !== primary.id)
    .every((s) => s.reachable && (s.readOnly === true || s.superReadOnly === true) && nothingMore(s));
  return [
    everyRouter ? '' : 'not every router uses it',
    sourceOf(primary) === null ? '' : 'it replicates from another server',
    fenced(f, primary.id) ? 'the watchdog fenced it' : '',
    othersBehind ? '' : 'another server is unreachable, writable, or holds transactions it lacks',
  ].filter(Boolean);
}

/**
 * THE decision order: the first detector that returns a verdict decides. The last one always does
 * (when every other found nothing, the primary is known and answers).
 */
export const DETECTORS: readonly Detector[] = [
  allDown,
  routersUnknown,
  operationInProgress,
  multiSource,
  routersDisagree,
  groupsDisagree,
  routersOnUnreachable,
  routersOnReplica,
  routersReachNothing,
  noRouterObserved,
  {
    name: 'primary-findings',
    codes: [...new Set(SERVER_CHECKS.map((c) => c.code)), 'Ok'],
    detect: primaryFindings,
  },
];
