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
 * Decision order (first match wins; documented here because it is the contract). Each rule is a
 * named detector in core/detectors.ts, and `DETECTORS` lists them in this order (the detector's name
 * in brackets); the findings of step 6 are `SERVER_CHECKS` there:
 *  1. [all-down] AllDown — no server answers us and no router lands anywhere.
 *  1b. [routers-unknown] RoutersUnknown — some group's routers are unknown: their discovery by EC2 tag failed or found
 *     no running instance, or none of them answers at all (connection refused or timed out; a router
 *     that accepts and closes because it reaches no server has answered). Nobody knows where that
 *     group's writes go, so no server may be changed (safety rule 7): alert only.
 *  2. [operation-in-progress] OperationInProgress — a coordination operation is recorded: during an operation routers are
 *     switched group by group and replication is being rebuilt, so everything below would misread
 *     the transition; the election decides who acts.
 *  2b. [multi-source] MultiSourceReplica — a server has several replication channels (MySQL) or named
 *     connections (MariaDB): the watchdog knows one source per replica, and a rebuild or a promotion
 *     would lose what the other sources bring. Alert only, nothing changes.
 *  3. [routers-disagree] SplitBrain — answering routers disagree on the target (writes go to two servers), or two
 *     writable heads each hold transactions the other lacks (checked once the primary is known, and
 *     ranked above every finding of step 6). `candidate` is the side a `resolve` policy keeps.
 *     Note: an old primary that comes back writable after a promotion, holding transactions that never
 *     reached the new primary, is such a split brain (both sides hold acknowledged writes). A fenced
 *     (read-only) old primary is not: it is RecoverNeeded.
 *  3c. [groups-disagree] With the group's routers unanimous on R and every other group's answering routers unanimous on
 *     another server P that answers, is writable and replicates from nobody (only when the snapshot
 *     holds other groups' routers and `group` is given):
 *     a. R does not answer us, is read-only, or is a server the watchdog fenced
 *                                                        -> RoutersBehind (the group missed a router
 *        switch: writes through it fail or reach a fenced server; point it at P, as the others are).
 *     b. R is writable and replicates from nobody       -> SplitBrain (writes reach R through this
 *        group and P through the others); the side to keep is the one most routers use.
 *     Otherwise (R a replica of P: this group's router failed over first, the seed's trigger) the
 *     steps below decide from this group's routers alone.
 *     Active–passive co-primaries (R replicates from S and S from R, circular replication) are no
 *     failover: R is the primary, S its replica, and the analysis says so in its evidence (step 6).
 *  4. With the routers unanimous on a server R ([routers-on-unreachable] for d, then [routers-on-replica]):
 *     a. R is a replica of S and S answers us           -> FailoverNeeded (writes went to R).
 *     b. R is a replica of S, S does not answer us, and R's own IO thread confirms S is gone
 *        (not running, or retrying with an error)        -> PrimaryDead.
 *     c. as b, but R's IO thread still receives from S   -> UnconfirmedPrimaryFailure (safety rule 1:
 *        the replica contradicts our view; alert and look again).
 *     d. R does not answer us                            -> PrimaryUnreachableRoutersOnPrimary (our
 *        view is the partitioned one; never act on it).
 *  5. [routers-reach-nothing] No router lands anywhere although routers are configured:
 *     a. the configured primary does not answer us and a replica's IO thread confirms it is gone
 *                                                        -> PrimaryDead (routers reach nothing).
 *     b. otherwise                                       -> RoutersUnreachable.
 *  5'. [no-router-observed] No router is observed (a CLI run): the configured primary stands for the
 *     routers' target; unreachable -> PrimaryDead as in 5a, else UnconfirmedPrimaryFailure.
 *  6. [primary-findings] The primary is known and answers. Every other server is checked, and the most urgent finding
 *     wins, in this order: PrimaryReadOnly (writes fail: nothing is rebuilt from a read-only server
 *     before that is settled), SemiSyncStuck (commits hang waiting for an acknowledgement: sessions
 *     wait and no semi-sync replica is connected), NotGtidEnabled, RecoverNeeded (replica not replicating from the
 *     primary: stopped, broken, wrong source, not configured, or diverged with a replication error),
 *     ReplicaErrantTransactions (replicating, but holds transactions the primary lacks), ReplicaDown,
 *     ReplicationLagging; none -> Ok. Lower findings are kept in `also`.
 *     PrimaryReadOnly names the primary as `candidate` (safe to open again) only when the read-only
 *     state cannot be a fence or a demotion: every answering router of every group uses it, it
 *     replicates from nobody, the journal does not list it as fenced, and every other configured
 *     server answers, is read-only and holds no transaction it lacks (a server restarted with
 *     `read_only = ON` in its my.cnf).
 *
 * Adding a code: its name in `ANALYSIS_CODES` (precedence order) and `DESCRIPTIONS` below, its row in
 * the planner's `RULES` (the compiler asks for both), one detector (or server check) in
 * core/detectors.ts and one line in its list, a golden snapshot named after it.
 */
import { WatchdogError } from '../errors.js';
import { DETECTORS, facts } from './detectors.js';
import type { ServerId, Snapshot } from './snapshot.js';

export {
  ioThreadConfirmsSourceGone,
  type UnknownRouters,
  unknownRouterGroups,
} from './detectors.js';

export const ANALYSIS_CODES = [
  'AllDown',
  'RoutersUnknown',
  'OperationInProgress',
  'MultiSourceReplica',
  'SplitBrain',
  'RoutersBehind',
  'PrimaryUnreachableRoutersOnPrimary',
  'UnconfirmedPrimaryFailure',
  'PrimaryDead',
  'FailoverNeeded',
  'RoutersUnreachable',
  'PrimaryReadOnly',
  'SemiSyncStuck',
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
  MultiSourceReplica:
    'A server replicates from several sources (multi-source): the watchdog manages one source per replica and changes nothing.',
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
  SemiSyncStuck:
    'The primary waits for semi-sync acknowledgements no replica gives (no semi-sync replica connected): commits hang.',
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

/**
 * Runs the detectors (core/detectors.ts) in their precedence order; the first verdict is the analysis.
 */
export function analyze(snapshot: Snapshot, opts: AnalyzeOptions = {}): Analysis {
  const f = facts(snapshot, opts, ANALYSIS_CODES);
  const routers = { total: f.ownRouters.length, answering: f.answering.length, targets: f.targets };
  for (const detector of DETECTORS) {
    const v = detector.detect(f);
    if (!v) continue;
    return {
      code: v.code,
      description: DESCRIPTIONS[v.code],
      evidence: v.evidence ?? [],
      primary: v.primary ?? null,
      candidate: v.candidate ?? null,
      oldPrimary: v.oldPrimary ?? null,
      affected: v.affected ?? [],
      errant: v.errant ?? [],
      routers,
      also: v.also ?? [],
      takenAt: snapshot.takenAt,
    };
  }
  throw new WatchdogError('analysis: no detector decided (the last one always does)');
}
