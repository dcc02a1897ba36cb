/**
 * Executes a plan through the election: the only effectful part of a cycle. One participant per
 * backend group; the database elects the operation master, which runs the plan's steps (fence,
 * promote, TARG, its own routers, salvage, reseed, replication, verification); the followers switch
 * their own group's routers to TARG. Every step is audited (audit.ts) and journaled in the
 * coordination schema (journal.ts), so a master that takes over after a crash or a Lambda deadline
 * runs the stored plan and skips what is already done.
 */
import { randomBytes } from 'node:crypto';
import { mysqlTls } from '../cluster/tls.js';
import type { Config } from '../config/schema.js';
import type { Analysis } from '../core/analysis.js';
import { type OperationName, type Plan, type Step, stepServers } from '../core/planner.js';
import type { ServerId, Snapshot } from '../core/snapshot.js';
import { pickCoordinationServer } from '../election/coordination-server.js';
import { type CoordinationDb, connectCoordinationDb } from '../election/db.js';
import { type MasterContext, type OperationReport, runOperation } from '../election/protocol.js';
import type { OperationKind } from '../election/schema.js';
import { ConfigError, ElectionError, errorMessage, WatchdogError } from '../errors.js';
import type { RouterSwitch } from '../routers/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { AdminPool, serverById } from './admin.js';
import { Audit, type AuditStep } from './audit.js';
import type { ChecksumComparison } from './checksum.js';
import type { HookRunner } from './hooks.js';
import {
  ensureJournal,
  loadPlan,
  readFenced,
  readSteps,
  stepEnded,
  stepStarted,
  storePlan,
} from './journal.js';
import type { HostCommands } from './physical/commands.js';
import type { ReseedProgress } from './physical/progress.js';
import type { SalvageRecord } from './salvage.js';
import { lowerSuperReadOnly, raiseSuperReadOnly, type StepResult } from './server-steps.js';
import type { RunEnv } from './steps/env.js';
import { changesAServer, guardServerChange } from './steps/guard.js';
import { handleStep } from './steps/index.js';
import { restoreRouters, switchRouters, verifyOwnRouters } from './steps/routers.js';
import { upgradeStoredPlan } from './steps/stored.js';
import { operationPrefix, putJson, putText } from './store.js';

export interface ExecuteDeps {
  routers: RouterSwitch;
  /** Object storage for salvage, reseed dumps and audit records; opened lazily when first needed. */
  store: () => ObjectStore;
  /** A fresh observation of this run's group(s), without reading the election tables. */
  observe: () => Promise<Snapshot>;
  signal?: AbortSignal;
  /** Participant id in the election (default: group@pid-random). */
  participant?: string;
  log?: (message: string, extra?: Record<string, unknown>) => void;
  /** Seconds a CatchUp waits for the applier (default 60). */
  catchUpTimeoutSeconds?: number;
  /** Where a physical reseed's commands run (SSM or local bash); absent: no physical reseed on MariaDB. */
  hostCommands?: HostCommands;
  /** Runs operator hooks (default: operations/hooks.ts, each hook by its kind). */
  hooks?: HookRunner;
}

export interface ExecuteInput {
  config: Config;
  /** The groups whose routers this participant switches (its own). */
  groups: string[];
  plan: Plan;
  analysis: Analysis;
  snapshot: Snapshot;
}

export interface OperationResult {
  operation: OperationName | null;
  participant: string;
  role: OperationReport['role'];
  outcome: OperationReport['outcome'];
  coordinationServer: string | null;
  epoch: number | null;
  openedEpoch: number | null;
  master: string | null;
  target: string | null;
  steps: AuditStep[];
  salvage: SalvageRecord[];
  checksums: Array<{ replica: string } & ChecksumComparison>;
  timeline: string[];
  auditUrl: string | null;
  /** Problems that did not fail the operation (e.g. a rebuilt server not re-added to the routers). */
  warnings: string[];
  /** True when the run stopped before the end (deadline): a continuation finishes it. */
  continuationNeeded: boolean;
  /** The last progress of a physical reseed this run followed (bytes, rate, ETA). */
  reseedProgress?: ReseedProgress;
  durationMs: number;
  election?: Omit<OperationReport, 'signals'>;
  error?: Record<string, unknown>;
}

/** The stored form of an operation's plan (operation_plan.plan). */
interface StoredPlan {
  operation: OperationName;
  steps: Step[];
  code: string;
  reason: string;
  primaryBefore: ServerId | null;
}

export function electionOp(operation: OperationName): OperationKind {
  // A rejoin or a reopen moves no primary: recorded like a recover, so anti-flap does not count it.
  if (operation === 'recover' || operation === 'rejoin' || operation === 'reopen') return 'repl';
  if (operation === 'switchover') return 'switch';
  return 'fail';
}

function hostPort(id: string): { host: string; port: number } {
  const i = id.lastIndexOf(':');
  return { host: id.slice(0, i), port: Number(id.slice(i + 1)) };
}

function stepTarget(step: Step): string | null {
  if ('server' in step) return step.server;
  if (step.kind === 'SwitchRouters' || step.kind === 'VerifyRouters' || step.kind === 'RestoreRouters')
    return step.to;
  return null;
}

function checkStepServers(config: Config, steps: readonly Step[]): void {
  for (const step of steps) for (const id of stepServers(step)) serverById(config, id);
}

export async function executeOperation(input: ExecuteInput, deps: ExecuteDeps): Promise<OperationResult> {
  const { config, plan, snapshot } = input;
  // Every step's server is resolved before the first step runs: an unknown one fails here, not after
  // a fence has already taken writes down.
  checkStepServers(config, plan.steps);
  const t0 = performance.now();
  const participant =
    deps.participant ?? `${input.groups.join('+') || 'all'}@${process.pid}-${randomBytes(2).toString('hex')}`;
  const audit = new Audit(participant);
  const log = deps.log ?? (() => {});
  const result: OperationResult = {
    operation: plan.operation ?? null,
    participant,
    role: 'observer',
    outcome: 'finished-elsewhere',
    coordinationServer: null,
    epoch: null,
    openedEpoch: null,
    master: null,
    target: null,
    steps: audit.steps,
    salvage: [],
    checksums: [],
    timeline: [],
    auditUrl: null,
    warnings: [],
    continuationNeeded: false,
    durationMs: 0,
  };

  // The coordination server: where an operation is already recorded, else the routers' pick.
  let coordination: { host: string; port: number } | null = null;
  const recorded = snapshot.servers.filter((s) => s.reachable && s.operation);
  if (plan.kind === 'follow' && recorded.length === 1) {
    coordination = { host: recorded[0]!.host, port: recorded[0]!.port };
  } else {
    const pick = pickCoordinationServer({
      servers: snapshot.servers.map((s) => ({ host: s.host, port: s.port, reachable: s.reachable })),
      routers: snapshot.routers.map((r) => ({
        reachable: r.reachable,
        target: r.routesTo ? hostPort(r.routesTo) : null,
      })),
    });
    if (!pick.server) {
      result.error = new ElectionError(pick.reason).toJSON();
      return result;
    }
    coordination = pick.server;
  }
  const coordinationId = `${coordination.host}:${coordination.port}`;
  result.coordinationServer = coordinationId;
  const cred = config.credentials.watchdog;
  if (!cred) throw new ConfigError('credentials.watchdog is missing');

  let db: CoordinationDb;
  try {
    db = await connectCoordinationDb({
      ...coordination,
      ...cred,
      ...mysqlTls(config.tls),
      connectTimeoutMs: config.timeouts.connectMs,
    });
  } catch (error) {
    result.error = (error instanceof WatchdogError ? error : new ElectionError(errorMessage(error))).toJSON();
    return result;
  }
  const pool = new AdminPool(config);
  const op: OperationKind = plan.operation
    ? electionOp(plan.operation)
    : ((recorded[0]?.operation?.op as OperationKind | undefined) ?? 'fail');

  const run: RunEnv = {
    config,
    groups: input.groups,
    deps,
    snapshot,
    result,
    pool,
    db,
    cred,
    coordinationId,
    log,
  };

  /** The runner: the guard of a step that changes a server, then the step's own handler. */
  const runStep = async (step: Step, ctx: MasterContext, stored: StoredPlan): Promise<StepResult> => {
    if (changesAServer(step.kind)) {
      await guardServerChange(config, step, cred, step.kind === 'Reseed' ? step.server : undefined);
    }
    return handleStep(step, { ...run, ctx, operation: stored.operation });
  };

  const asMaster = async (ctx: MasterContext): Promise<void> => {
    result.openedEpoch = ctx.openedEpoch;
    await ensureJournal(db);
    let stored: StoredPlan | null;
    if (plan.kind === 'operation' && plan.operation) {
      stored = await storePlan<StoredPlan>(
        db,
        ctx.openedEpoch,
        plan.operation,
        {
          operation: plan.operation,
          steps: plan.steps,
          code: plan.code,
          reason: plan.reason,
          primaryBefore: input.analysis.primary,
        },
        participant,
      );
    } else {
      stored = await loadPlan<StoredPlan>(db, ctx.openedEpoch);
    }
    if (!stored) {
      throw new ElectionError(
        'took over an operation whose plan was never stored; removing it so the next run plans afresh',
      );
    }
    stored = upgradeStoredPlan(stored);
    checkStepServers(config, stored.steps);
    result.operation = stored.operation;
    const journal = new Map((await readSteps(db, ctx.openedEpoch)).map((s) => [s.seq, s]));
    log('operation master', { operation: stored.operation, epoch: ctx.epoch, resumed: journal.size > 0 });
    for (const [seq, step] of stored.steps.entries()) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const prior = journal.get(seq);
      const target = stepTarget(step);
      // TARG belongs to an epoch: a master of a new epoch writes it again for its followers.
      const repeatable = step.kind === 'WriteTarg' && ctx.resumed === null;
      if (prior && (prior.state === 'done' || prior.state === 'skipped') && !repeatable) {
        audit.alreadyDone(
          seq,
          step.kind,
          target,
          `${prior.state} by ${prior.participant} (epoch ${prior.epoch}): ${prior.detail ?? ''}`,
        );
        continue;
      }
      await audit.step(seq, step.kind, target, () => runStep(step, ctx, stored), {
        started: () =>
          stepStarted(db, {
            openedEpoch: ctx.openedEpoch,
            seq,
            epoch: ctx.epoch,
            kind: step.kind,
            participant,
          }),
        ended: (outcome, detail) =>
          stepEnded(db, {
            openedEpoch: ctx.openedEpoch,
            seq,
            state: outcome === 'failed' ? 'failed' : outcome === 'skipped' ? 'skipped' : 'done',
            detail,
          }),
      });
      log('step', { seq, kind: step.kind, target, outcome: audit.steps.at(-1)?.outcome });
    }
  };

  const asFollower = async (targ: string): Promise<void> => {
    const [row] = await db.query<{ opened_epoch: number }>(
      'SELECT opened_epoch FROM `ongoing_failover`.operation WHERE id = 1',
    );
    const stored = row ? await loadPlan<StoredPlan>(db, Number(row.opened_epoch)).catch(() => null) : null;
    if (row) result.openedEpoch = Number(row.opened_epoch);
    if (stored) result.operation = stored.operation;
    // Kept out: what the plan excludes, and every server the watchdog fenced and has not rebuilt.
    const fencedNow = await readFenced(db);
    const planned = (stored?.steps ?? []).flatMap((s) => (s.kind === 'SwitchRouters' ? s.exclude : []));
    const exclude = [...new Set([...planned, ...fencedNow].filter((s) => s !== targ))];
    await audit.step(0, 'SwitchRouters', targ, () => switchRouters(run, targ, exclude, 'own'));
    await audit.step(1, 'VerifyRouters', targ, () => verifyOwnRouters(run, targ));
  };

  /**
   * A follower's share of the plan's RestoreRouters (steps/routers.ts): once the master reached it
   * (every replica the plan starts runs), the follower puts them back into its own groups' routers.
   */
  const restoreOwnRouters = async (): Promise<void> => {
    if (result.outcome !== 'followed' || result.openedEpoch === null) return;
    const loaded = await loadPlan<StoredPlan>(db, result.openedEpoch);
    const steps = loaded ? upgradeStoredPlan(loaded).steps : [];
    const seq = steps.findIndex((s) => s.kind === 'RestoreRouters');
    const step = steps[seq];
    if (step?.kind !== 'RestoreRouters') return;
    const journal = await readSteps(db, result.openedEpoch);
    if (!journal.some((j) => j.seq === seq && (j.state === 'done' || j.state === 'skipped'))) return;
    await audit.step(seq, step.kind, step.to, () => restoreRouters(run, step.to, 'own'));
  };

  /**
   * MySQL's super_read_only refuses the election's and the journal's writes, even the watchdog's: a
   * coordination server that has it (a fenced or rebuilt server) runs with plain read_only while
   * operations write there (CONNECTION_ADMIN writes through it, applications do not), and a fence of it
   * waits for super_read_only (FenceOptions.watchdogWritable). Once no operation is open any more, the
   * last participant sets super_read_only again on a coordination server that is read-only.
   */
  const closeCoordinationWindow = async (): Promise<void> => {
    const admin = await pool.get(coordinationId);
    if (!admin.flavor.hasSuperReadOnly) return;
    const [open] = await db.query<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM `ongoing_failover`.operation',
    );
    if (Number(open?.n) > 0) return;
    const done = await raiseSuperReadOnly(admin);
    if (done) log('coordination server fenced again', { detail: done });
  };

  let store: ObjectStore | null = null;
  try {
    await lowerSuperReadOnly(await pool.get(coordinationId));
    const report = await runOperation({
      db,
      participant,
      op,
      leaseMs: config.election.leaseMs,
      followerTimeoutMs: config.election.followerTimeoutMs,
      pollMs: config.election.pollMs,
      ...(deps.signal ? { signal: deps.signal } : {}),
      onSignal: (entry) => audit.signals.push(entry),
      asMaster,
      asFollower,
    });
    const { signals: _signals, ...election } = report;
    result.election = election;
    result.role = report.role;
    result.outcome = report.outcome;
    result.epoch = report.epoch;
    result.openedEpoch = report.openedEpoch ?? result.openedEpoch;
    result.master = report.master;
    result.target = report.target;
    if (report.error) result.error = report.error;
    result.continuationNeeded = report.outcome === 'aborted';
    await restoreOwnRouters();
    await closeCoordinationWindow().catch((error: unknown) => {
      result.warnings.push(
        `coordination server ${coordinationId} left read_only without super_read_only: ${errorMessage(error)}`,
      );
    });
  } catch (error) {
    result.error = (
      error instanceof WatchdogError ? error : new WatchdogError(errorMessage(error), { cause: error })
    ).toJSON();
  } finally {
    await db.close();
    await pool.close();
  }
  result.timeline = audit.timeline();
  result.durationMs = Math.round(performance.now() - t0);
  // The audit record: one JSON per participant and run, next to the operation's other objects.
  if (result.openedEpoch !== null && audit.steps.length > 0) {
    try {
      store = deps.store();
      const prefix = operationPrefix(config, result.openedEpoch);
      const name = participant.replace(/[^A-Za-z0-9_.-]/g, '_');
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      result.auditUrl = await putJson(store, `${prefix}/audit/${stamp}-${name}.json`, {
        ...result,
        analysis: { code: input.analysis.code, evidence: input.analysis.evidence },
        plan,
      });
      await putText(
        store,
        `${prefix}/audit/${stamp}-${name}.timeline.txt`,
        `${result.timeline.join('\n')}\n`,
      );
    } catch (error) {
      log('audit record not stored', { error: errorMessage(error) });
    }
  }
  return result;
}
