/**
 * Analysis: a pure function from ONE snapshot to ONE cluster-wide code, with a description, the
 * evidence it rests on, and the servers an action would concern. No I/O, no clock: the same snapshot
 * always gives the same analysis (golden tests in test/fixtures/snapshots).
 *
 * Words used below:
 * - "router target": the configured server a NEW connection through a router lands on.
 * - "head": a server that does not replicate from another configured server.
 * - "the primary": where the routers (all that answer, unanimously) send writes; with no router
 *   answering, the configured primary. The configuration may lag behind a finished failover, so a
 *   head the routers agree on is the primary even when the configuration names another server.
 *
 * Decision order (first match wins; documented here because it is the contract):
 *  1. AllDown — no server answers us and no router lands anywhere.
 *  1b. RoutersUnknown — some group's routers are unknown: their discovery by EC2 tag failed or found
 *     no running instance, or none of them answers at all (connection refused or timed out; a router
 *     that accepts and closes because it reaches no server has answered). Nobody knows where that
 *     group's writes go, so no server may be changed (safety rule 7): alert only.
 *  2. OperationInProgress — a coordination operation is recorded: during an operation routers are
 *     switched group by group and replication is being rebuilt, so everything below would misread
 *     the transition; the election decides who acts.
 *  3. SplitBrain — answering routers disagree on the target (writes go to two servers), or two
 *     writable heads each hold transactions the other lacks (checked once the primary is known, and
 *     ranked above every finding of step 6). `candidate` is the side a `resolve` policy keeps.
 *     Note: an old primary that comes back writable after a promotion, holding transactions that never
 *     reached the new primary, is such a split brain (both sides hold acknowledged writes). A fenced
 *     (read-only) old primary is not: it is RecoverNeeded.
 *  3c. With the group's routers unanimous on R and every other group's answering routers unanimous on
 *     another server P that answers, is writable and replicates from nobody (only when the snapshot
 *     holds other groups' routers and `group` is given):
 *     a. R does not answer us, is read-only, or is a server the watchdog fenced
 *                                                        -> RoutersBehind (the group missed a router
 *        switch: writes through it fail or reach a fenced server; point it at P, as the others are).
 *     b. R is writable and replicates from nobody       -> SplitBrain (writes reach R through this
 *        group and P through the others); the side to keep is the one most routers use.
 *     Otherwise (R a replica of P: this group's router failed over first, the seed's trigger) the
 *     steps below decide from this group's routers alone.
 *  4. With the routers unanimous on a server R:
 *     a. R is a replica of S and S answers us           -> FailoverNeeded (writes went to R).
 *     b. R is a replica of S, S does not answer us, and R's own IO thread confirms S is gone
 *        (not running, or retrying with an error)        -> PrimaryDead.
 *     c. as b, but R's IO thread still receives from S   -> UnconfirmedPrimaryFailure (safety rule 1:
 *        the replica contradicts our view; alert and look again).
 *     d. R does not answer us                            -> PrimaryUnreachableRoutersOnPrimary (our
 *        view is the partitioned one; never act on it).
 *  5. No router lands anywhere although routers are configured:
 *     a. the configured primary does not answer us and a replica's IO thread confirms it is gone
 *                                                        -> PrimaryDead (routers reach nothing).
 *     b. otherwise                                       -> RoutersUnreachable.
 *  6. The primary is known and answers. Every other server is checked, and the most urgent finding
 *     wins, in this order: PrimaryReadOnly (writes fail: nothing is rebuilt from a read-only server
 *     before that is settled), NotGtidEnabled, RecoverNeeded (replica not replicating from the
 *     primary: stopped, broken, wrong source, not configured, or diverged with a replication error),
 *     ReplicaErrantTransactions (replicating, but holds transactions the primary lacks), ReplicaDown,
 *     ReplicationLagging; none -> Ok. Lower findings are kept in `also`.
 *     PrimaryReadOnly names the primary as `candidate` (safe to open again) only when the read-only
 *     state cannot be a fence or a demotion: every answering router of every group uses it, it
 *     replicates from nobody, the journal does not list it as fenced, and every other configured
 *     server answers, is read-only and holds no transaction it lacks (a server restarted with
 *     `read_only = ON` in its my.cnf).
 */
import type { GtidSet } from './gtid.js';
import {
  type RouterObservation,
  type ServerId,
  type ServerObservation,
  type Snapshot,
  serverTransactions,
} from './snapshot.js';

export const ANALYSIS_CODES = [
  'AllDown',
  'RoutersUnknown',
  'OperationInProgress',
  'SplitBrain',
  'RoutersBehind',
  'PrimaryUnreachableRoutersOnPrimary',
  'UnconfirmedPrimaryFailure',
  'PrimaryDead',
  'FailoverNeeded',
  'RoutersUnreachable',
  'PrimaryReadOnly',
  'NotGtidEnabled',
  'RecoverNeeded',
  'ReplicaErrantTransactions',
  'ReplicaDown',
  'ReplicationLagging',
  'Ok',
] as const;

/** In precedence order: a lower index wins when several conditions hold. */
export type AnalysisCode = (typeof ANALYSIS_CODES)[number];

export const DESCRIPTIONS: Record<AnalysisCode, string> = {
  AllDown: 'No database server answers and no router reaches one.',
  RoutersUnknown:
    "A group's routers are unknown: their discovery failed or found no instance, or none of them answers.",
  OperationInProgress:
    'A failover/recover operation is recorded in ongoing_failover; the election decides who acts.',
  SplitBrain:
    'Writes can reach two servers: routers disagree, or two heads hold transactions the other lacks.',
  RoutersBehind:
    "This group's routers still send writes to a server every other group left (read-only, fenced or unreachable), while the others use a writable primary.",
  PrimaryUnreachableRoutersOnPrimary:
    'We cannot reach the primary but the routers still do: our own view is partitioned; nothing to do.',
  UnconfirmedPrimaryFailure:
    'Routers moved to a replica and we cannot reach the primary, but the replica still receives from it: not confirmed.',
  PrimaryDead:
    'The primary is unreachable, the routers reach only a replica (or nothing), and that replica confirms the primary is gone.',
  FailoverNeeded:
    'The routers send writes to a replica while the old primary is still up: promote it and fence the old one.',
  RoutersUnreachable: 'The routers answer but none reaches a server, while the primary is up.',
  NotGtidEnabled: 'GTID replication is not enabled on a server or a replica does not auto-position.',
  RecoverNeeded: 'The routers use the primary, but replication on a replica is broken, stopped or diverged.',
  ReplicaErrantTransactions:
    'A replica is replicating but holds transactions the primary lacks (errant GTIDs).',
  PrimaryReadOnly:
    'The routers send writes to a server that is read-only (opened again only when that cannot be a fence).',
  ReplicaDown: 'A replica is unreachable.',
  ReplicationLagging: 'A replica is replicating but lags behind the primary.',
  Ok: 'The primary is writable, every replica replicates from it without error, every router goes to the primary.',
};

export interface ErrantSet {
  server: ServerId;
  /** The server lacking them (the primary, or the other head). */
  missingOn: ServerId;
  gtids: string;
  count: string;
}

export interface Analysis {
  code: AnalysisCode;
  description: string;
  evidence: string[];
  /** Where writes go now (router target, or configured primary); null when unknown. */
  primary: ServerId | null;
  /** The server an operation would make the primary (PrimaryDead, FailoverNeeded). */
  candidate: ServerId | null;
  /** The server to fence and keep out of routers (PrimaryDead, FailoverNeeded). */
  oldPrimary: ServerId | null;
  /** Servers the code is about (replicas to recover, down, lagging, errant; the two split heads). */
  affected: ServerId[];
  errant: ErrantSet[];
  routers: { total: number; answering: number; targets: Record<ServerId, number> };
  /** Lower-precedence conditions that also hold. */
  also: AnalysisCode[];
  takenAt: string;
}

export interface AnalyzeOptions {
  /** A replica further behind than this is ReplicationLagging (default 60 s). */
  maxLagSeconds?: number;
  /**
   * The backend group whose watchdog analyses. Its routers decide where "the primary" is; the routers
   * of the other groups (when the snapshot holds them) are context for step 3c. Default: every router
   * in the snapshot is the group's own (the CLI's cluster-wide view).
   */
  group?: string;
  /** Servers the watchdog fenced and still owes a rebuild (from the coordination journal). */
  fenced?: readonly ServerId[];
}

interface Finding {
  code: AnalysisCode;
  servers: ServerId[];
  evidence: string[];
}

const rank = (c: AnalysisCode): number => ANALYSIS_CODES.indexOf(c);

function describeRouter(r: RouterObservation): string {
  if (r.landed) {
    return `router ${r.group}/${r.id} -> ${r.routesTo ?? 'an unknown server'} (server_id ${r.landed.serverId}, port ${r.landed.port}${r.matchedBy ? `, matched by ${r.matchedBy}` : ''})`;
  }
  return `router ${r.group}/${r.id} reaches no server: ${r.error?.message ?? 'no answer'}`;
}

function describeReplication(s: ServerObservation): string {
  const r = s.replication;
  if (!r) return `${s.id} is not a replica`;
  const errs = [
    r.lastIoErrno ? `IO error ${r.lastIoErrno}: ${r.lastIoError}` : '',
    r.lastSqlErrno ? `SQL error ${r.lastSqlErrno}: ${r.lastSqlError}` : '',
  ].filter(Boolean);
  return `${s.id} replicates from ${r.sourceId ?? `${r.sourceHost}:${r.sourcePort} (not a configured server)`}: IO ${r.ioRunning}, SQL ${r.sqlRunning}, ${r.secondsBehind === null ? 'lag unknown' : `${r.secondsBehind}s behind`}${errs.length ? `; ${errs.join('; ')}` : ''}`;
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

function errantOf(s: ServerObservation, other: ServerObservation): ErrantSet | null {
  const d = diff(serverTransactions(s), serverTransactions(other));
  if (!d || d.isEmpty()) return null;
  return { server: s.id, missingOn: other.id, gtids: d.describe(), count: d.count().toString() };
}

/** A reachable server that replicates from another configured server. */
function sourceOf(s: ServerObservation): ServerId | null {
  const src = s.replication?.sourceId ?? null;
  return src && src !== s.id ? src : null;
}

function result(
  snapshot: Snapshot,
  code: AnalysisCode,
  fields: Partial<Omit<Analysis, 'code' | 'description' | 'takenAt' | 'routers'>>,
  routers: Analysis['routers'],
): Analysis {
  return {
    code,
    description: DESCRIPTIONS[code],
    evidence: fields.evidence ?? [],
    primary: fields.primary ?? null,
    candidate: fields.candidate ?? null,
    oldPrimary: fields.oldPrimary ?? null,
    affected: fields.affected ?? [],
    errant: fields.errant ?? [],
    routers,
    also: fields.also ?? [],
    takenAt: snapshot.takenAt,
  };
}

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

export function analyze(snapshot: Snapshot, opts: AnalyzeOptions = {}): Analysis {
  const maxLag = opts.maxLagSeconds ?? 60;
  const servers = snapshot.servers;
  const byId = new Map(servers.map((s) => [s.id, s]));
  const reachable = servers.filter((s) => s.reachable);
  const group = opts.group;
  const ownRouters =
    group === undefined ? snapshot.routers : snapshot.routers.filter((r) => r.group === group);
  const otherRouters = group === undefined ? [] : snapshot.routers.filter((r) => r.group !== group);
  const answering = ownRouters.filter((r) => r.reachable && r.routesTo !== null);
  const targets: Record<ServerId, number> = {};
  for (const r of answering) targets[r.routesTo!] = (targets[r.routesTo!] ?? 0) + 1;
  const routerSummary = { total: ownRouters.length, answering: answering.length, targets };
  const routerEvidence = ownRouters.map(describeRouter);
  const unreachableEvidence = servers
    .filter((s) => !s.reachable)
    .map(
      (s) =>
        `${s.id} unreachable${s.error?.stage === 'query' ? ' (connected, but a query failed)' : ''}: ${s.error?.message ?? 'no answer'}${s.error?.code ? ` (${s.error.code})` : ''}`,
    );
  const out = (code: AnalysisCode, f: Parameters<typeof result>[2]): Analysis =>
    result(snapshot, code, f, routerSummary);

  /** The other reachable replicas of `old`, to repoint to `candidate` (and what they hold that it lacks). */
  const followers = (candidate: ServerObservation, old: ServerId) => {
    const others = servers.filter((x) => x.id !== candidate.id && x.reachable && sourceOf(x) === old);
    return {
      affected: others.map((x) => x.id),
      errant: others.map((x) => errantOf(x, candidate)).filter((e): e is ErrantSet => !!e),
    };
  };

  // 1. AllDown
  if (reachable.length === 0 && answering.length === 0) {
    return out('AllDown', { evidence: [...unreachableEvidence, ...routerEvidence] });
  }

  // 1b. RoutersUnknown (safety rule 7): ranked above an operation in progress, so nothing is followed
  // or taken over while some group's writes could go anywhere.
  const unknown = unknownRouterGroups(snapshot);
  if (unknown.length > 0) {
    return out('RoutersUnknown', {
      primary: Object.keys(targets).length === 1 ? Object.keys(targets)[0]! : null,
      evidence: [
        ...unknown.map((u) => `group ${u.group}: ${u.reason}`),
        ...routerEvidence,
        ...unreachableEvidence,
      ],
    });
  }

  // 2. OperationInProgress
  const withOp = reachable.filter((s) => s.operation);
  if (withOp.length > 0) {
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
    return out('OperationInProgress', {
      evidence: [...ev, ...routerEvidence],
      affected: withOp.map((s) => s.id),
      primary: Object.keys(targets).length === 1 ? Object.keys(targets)[0]! : snapshot.configuredPrimary,
    });
  }

  // 3a. SplitBrain: routers disagree
  const targetIds = Object.keys(targets);
  if (targetIds.length > 1) {
    const heads = targetIds.map((id) => byId.get(id)).filter((s): s is ServerObservation => !!s);
    const errant: ErrantSet[] = [];
    for (const a of heads)
      for (const b of heads)
        if (a !== b && a.reachable && b.reachable) {
          const e = errantOf(a, b);
          if (e) errant.push(e);
        }
    const keep = sideToKeep(targets, snapshot.configuredPrimary);
    return out('SplitBrain', {
      candidate: keep,
      evidence: [
        `routers disagree: ${targetIds.map((id) => `${targets[id]} -> ${id}`).join(', ')}`,
        ...routerEvidence,
        ...errant.map((e) => `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks: ${e.gtids}`),
      ],
      affected: targetIds,
      errant,
    });
  }

  // 3c. This group's routers against every other group's (a group that missed a router switch).
  const otherAnswering = otherRouters.filter((r) => r.reachable && r.routesTo !== null);
  const otherTargets = [...new Set(otherAnswering.map((r) => r.routesTo!))];
  if (targetIds.length === 1 && otherTargets.length === 1 && otherTargets[0] !== targetIds[0]) {
    const rId = targetIds[0]!;
    const pId = otherTargets[0]!;
    const r = byId.get(rId);
    const p = byId.get(pId);
    const writable = (s: ServerObservation): boolean =>
      s.reachable && s.readOnly === false && s.superReadOnly !== true;
    const head = (s: ServerObservation): boolean => s.reachable && sourceOf(s) === null;
    if (r && p && writable(p) && head(p)) {
      const ev = [
        `this group's ${answering.length} answering router(s) send writes to ${rId}; the other groups' ${otherAnswering.length} to ${pId} (writable, replicates from nobody)`,
        ...routerEvidence,
        ...otherRouters.map(describeRouter),
      ];
      const fencedR = (opts.fenced ?? []).includes(rId);
      if (!r.reachable || !writable(r) || fencedR) {
        return out('RoutersBehind', {
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
        });
      }
      if (head(r)) {
        const all: Record<ServerId, number> = { [rId]: answering.length, [pId]: otherAnswering.length };
        const keep = sideToKeep(all, snapshot.configuredPrimary);
        const errant = [errantOf(r, p), errantOf(p, r)].filter((e): e is ErrantSet => !!e);
        return out('SplitBrain', {
          primary: keep,
          candidate: keep,
          affected: [rId, pId],
          errant,
          evidence: [
            `writes reach ${rId} through this group and ${pId} through the other groups; both are writable heads`,
            ...ev,
            ...errant.map(
              (e) => `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks: ${e.gtids}`,
            ),
          ],
        });
      }
    }
  }

  // 4. Routers unanimous on R
  let primary: ServerObservation | null = null;
  if (targetIds.length === 1) {
    const rId = targetIds[0]!;
    const r = byId.get(rId)!;
    if (!r.reachable) {
      return out('PrimaryUnreachableRoutersOnPrimary', {
        primary: rId,
        evidence: [
          `all ${answering.length} answering routers reach ${rId}, which does not answer us`,
          ...unreachableEvidence,
          ...routerEvidence,
        ],
      });
    }
    const src = sourceOf(r);
    if (src) {
      const old = byId.get(src);
      // Other replicas of the old primary must follow the promoted one (3-server clusters).
      const siblings = servers.filter((x) => x.id !== rId && x.reachable && sourceOf(x) === src);
      const siblingErrant = siblings.map((x) => errantOf(x, r)).filter((e): e is ErrantSet => !!e);
      const ev = [
        `all ${answering.length} answering routers send writes to ${rId}, a replica of ${src}`,
        describeReplication(r),
        ...siblings.map((x) => `${x.id} also replicates from ${src}: it must be repointed to ${rId}`),
        ...siblingErrant.map(
          (e) =>
            `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks: ${e.gtids} (salvage before repointing)`,
        ),
        ...routerEvidence,
      ];
      const affected = siblings.map((x) => x.id);
      if (old?.reachable) {
        const errant = [errantOf(old, r), ...siblingErrant].filter((e): e is ErrantSet => !!e);
        return out('FailoverNeeded', {
          primary: rId,
          candidate: rId,
          oldPrimary: src,
          affected,
          evidence: [
            ...ev,
            `${src} is up (old primary; must be fenced)`,
            ...errant.map(
              (e) =>
                `${e.server} has ${e.count} transaction(s) ${e.missingOn} lacks (to salvage): ${e.gtids}`,
            ),
          ],
          errant,
        });
      }
      if (ioThreadConfirmsSourceGone(r)) {
        return out('PrimaryDead', {
          primary: rId,
          candidate: rId,
          oldPrimary: src,
          affected,
          errant: siblingErrant,
          evidence: [...ev, ...unreachableEvidence],
        });
      }
      return out('UnconfirmedPrimaryFailure', {
        primary: rId,
        candidate: rId,
        oldPrimary: src,
        evidence: [
          ...ev,
          ...unreachableEvidence,
          `${rId}'s IO thread still runs against ${src}: the primary is alive`,
        ],
      });
    }
    primary = r;
  } else if (ownRouters.length > 0) {
    // 5. Routers configured, none lands anywhere.
    const p = snapshot.configuredPrimary ? byId.get(snapshot.configuredPrimary) : undefined;
    if (p && !p.reachable) {
      const best = bestReplicaOf(p.id, servers);
      if (best && ioThreadConfirmsSourceGone(best)) {
        return out('PrimaryDead', {
          primary: null,
          candidate: best.id,
          oldPrimary: p.id,
          ...followers(best, p.id),
          evidence: [
            'no router reaches a server',
            describeReplication(best),
            ...unreachableEvidence,
            ...routerEvidence,
          ],
        });
      }
    }
    return out('RoutersUnreachable', {
      primary: p?.id ?? null,
      evidence: [
        `none of ${ownRouters.length} routers reaches a server`,
        ...routerEvidence,
        ...unreachableEvidence,
      ],
    });
  } else {
    // No routers observed (a CLI run without router endpoints): the configured primary.
    const p = snapshot.configuredPrimary ? byId.get(snapshot.configuredPrimary) : undefined;
    if (!p) return out('RoutersUnreachable', { evidence: ['no router observed and no configured primary'] });
    if (!p.reachable) {
      const best = bestReplicaOf(p.id, servers);
      if (best && ioThreadConfirmsSourceGone(best)) {
        return out('PrimaryDead', {
          candidate: best.id,
          oldPrimary: p.id,
          ...followers(best, p.id),
          evidence: ['no router observed', describeReplication(best), ...unreachableEvidence],
        });
      }
      return out('UnconfirmedPrimaryFailure', {
        primary: p.id,
        evidence: ['no router observed', ...unreachableEvidence],
      });
    }
    primary = p;
  }

  // 3b and 6: the primary is known and answers.
  const pid = primary.id;
  const findings: Finding[] = [];
  const errant: ErrantSet[] = [];
  const add = (code: AnalysisCode, server: ServerId, evidence: string): void => {
    const f = findings.find((x) => x.code === code);
    if (f) {
      f.servers.push(server);
      f.evidence.push(evidence);
    } else findings.push({ code, servers: [server], evidence: [evidence] });
  };

  for (const s of reachable) {
    if (s.flavor === 'mysql' && s.gtidMode !== 'ON')
      add('NotGtidEnabled', s.id, `${s.id} gtid_mode=${s.gtidMode ?? 'unknown'}`);
  }
  if (primary.readOnly || primary.superReadOnly) {
    add(
      'PrimaryReadOnly',
      pid,
      `${pid} read_only=${primary.readOnly ? 'ON' : 'OFF'}${primary.superReadOnly ? ', super_read_only=ON' : ''} while routers send writes to it`,
    );
  }
  for (const s of servers) {
    if (s.id === pid) continue;
    if (!s.reachable) {
      add('ReplicaDown', s.id, `${s.id} unreachable: ${s.error?.message ?? 'no answer'}`);
      continue;
    }
    const toPrimary = errantOf(s, primary);
    const fromPrimary = errantOf(primary, s);
    const src = sourceOf(s);
    // 3b. Two heads, each with writes the other lacks: both took writes independently.
    // A fenced (read-only) server is not a competing writer: its extra transactions are a recover
    // matter (salvaged before the reseed), not a split brain.
    const writable = s.readOnly === false && s.superReadOnly !== true;
    if (src === null && sourceOf(primary) !== s.id && writable && toPrimary && fromPrimary) {
      errant.push(toPrimary, fromPrimary);
      findings.push({
        code: 'SplitBrain',
        servers: [s.id],
        evidence: [
          `${s.id} and ${pid} are both heads (neither replicates from the other)`,
          `${s.id} has ${toPrimary.count} transaction(s) ${pid} lacks: ${toPrimary.gtids}`,
          `${pid} has ${fromPrimary.count} transaction(s) ${s.id} lacks: ${fromPrimary.gtids}`,
        ],
      });
      continue;
    }
    if (toPrimary) errant.push(toPrimary);
    const r = s.replication;
    if (r && r.usingGtid === 'No')
      add('NotGtidEnabled', s.id, `${s.id} replicates without GTID auto-positioning`);
    if (!replicaHealthy(s, pid)) {
      const why = !r
        ? `${s.id} does not replicate at all`
        : r.sourceId !== pid
          ? `${s.id} replicates from ${r.sourceId ?? `${r.sourceHost}:${r.sourcePort}`}, not from the primary ${pid}`
          : describeReplication(s);
      add(
        'RecoverNeeded',
        s.id,
        toPrimary
          ? `${why}; it also has ${toPrimary.count} transaction(s) the primary lacks: ${toPrimary.gtids}`
          : why,
      );
      continue;
    }
    if (toPrimary) {
      add(
        'ReplicaErrantTransactions',
        s.id,
        `${s.id} has ${toPrimary.count} transaction(s) ${pid} lacks: ${toPrimary.gtids}`,
      );
    }
    if (r && r.secondsBehind !== null && r.secondsBehind > maxLag) {
      add('ReplicationLagging', s.id, `${s.id} is ${r.secondsBehind}s behind (limit ${maxLag}s)`);
    }
  }

  findings.sort((a, b) => rank(a.code) - rank(b.code));
  const top = findings[0];
  const context = [
    `primary ${pid}${targetIds.length === 1 ? ` (all ${answering.length} answering routers)` : ' (configured; no router observed)'}`,
    ...(snapshot.configuredPrimary && snapshot.configuredPrimary !== pid
      ? [`the configuration names ${snapshot.configuredPrimary} as primary; the routers use ${pid}`]
      : []),
  ];
  if (top?.code === 'PrimaryReadOnly') {
    const everyRouter =
      answering.length > 0 &&
      otherRouters.every((r) => !r.reachable || r.routesTo === null || r.routesTo === pid);
    const others = servers.filter((s) => s.id !== pid);
    const nothingMore = (s: ServerObservation): boolean => {
      const d = diff(serverTransactions(s), serverTransactions(primary));
      return d?.isEmpty() === true;
    };
    const othersBehind = others.every(
      (s) => s.reachable && (s.readOnly === true || s.superReadOnly === true) && nothingMore(s),
    );
    const fenced = (opts.fenced ?? []).includes(pid);
    const reopen = everyRouter && sourceOf(primary) === null && !fenced && othersBehind;
    return out('PrimaryReadOnly', {
      primary: pid,
      candidate: reopen ? pid : null,
      affected: top.servers,
      errant,
      evidence: [
        ...top.evidence,
        reopen
          ? `safe to open: every router uses ${pid}, it replicates from nobody, it is not fenced, and every other server is read-only and holds nothing it lacks`
          : `not opened automatically: ${[
              everyRouter ? '' : 'not every router uses it',
              sourceOf(primary) === null ? '' : 'it replicates from another server',
              fenced ? 'the watchdog fenced it' : '',
              othersBehind ? '' : 'another server is unreachable, writable, or holds transactions it lacks',
            ]
              .filter(Boolean)
              .join('; ')}`,
        ...context,
        ...routerEvidence,
      ],
      also: [...new Set(findings.slice(1).map((f) => f.code))].filter((c) => c !== top.code),
    });
  }
  if (!top) {
    return out('Ok', {
      primary: pid,
      evidence: [
        ...context,
        ...servers.filter((s) => s.id !== pid).map(describeReplication),
        ...routerEvidence,
      ],
    });
  }
  return out(top.code, {
    primary: pid,
    // SplitBrain between heads: keep the routers' primary (the policy may resolve towards it).
    candidate: top.code === 'SplitBrain' ? pid : null,
    affected: top.servers,
    errant,
    evidence: [...top.evidence, ...context, ...routerEvidence],
    also: [...new Set(findings.slice(1).map((f) => f.code))].filter((c) => c !== top.code),
  });
}
