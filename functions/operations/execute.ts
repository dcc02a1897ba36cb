/**
 * Executes a plan through the election: the only effectful part of a cycle. One participant per
 * backend group; the database elects the operation master, which runs the plan's steps (fence,
 * promote, TARG, its own routers, salvage, reseed, replication, verification); the followers switch
 * their own group's routers to TARG. Every step is audited (audit.ts) and journaled in the
 * coordination schema (journal.ts), so a master that takes over after a crash or a Lambda deadline
 * runs the stored plan and skips what is already done.
 */
import { randomBytes } from 'node:crypto';
import { observeRouters, sendingTo } from '../cluster/routed.js';
import { mysqlTls, replicationTls } from '../cluster/tls.js';
import type { Config } from '../config/schema.js';
import { type Analysis, analyze, unknownRouterGroups } from '../core/analysis.js';
import { type OperationName, type Plan, type Step, stepServers } from '../core/planner.js';
import { delayedReplicas, fallbackOrder, promotionRules } from '../core/policy.js';
import type { ServerId, Snapshot } from '../core/snapshot.js';
import { pickCoordinationServer } from '../election/coordination-server.js';
import { type CoordinationDb, connectCoordinationDb } from '../election/db.js';
import { type MasterContext, type OperationReport, runOperation } from '../election/protocol.js';
import type { OperationKind } from '../election/schema.js';
import {
  ConfigError,
  ElectionError,
  errorMessage,
  RouterSwitchError,
  SafetyRefusalError,
  StateChangeRefusedError,
  WatchdogError,
} from '../errors.js';
import { planDestinations } from '../routers/cli.js';
import type { GroupSwitchResult, RouterSwitch } from '../routers/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { AdminPool, type ServerAdmin, serverById } from './admin.js';
import { Audit, type AuditStep } from './audit.js';
import { type ChecksumComparison, compareChecksums } from './checksum.js';
import { type HookRunner, hookRunner, runHookStep } from './hooks.js';
import {
  clearFenced,
  ensureJournal,
  loadPlan,
  markFenced,
  readFenced,
  readSteps,
  stepEnded,
  stepStarted,
  storePlan,
} from './journal.js';
import { physicalIfChosen, refuseIfReplicatedFrom } from './physical/branch.js';
import type { HostCommands } from './physical/commands.js';
import type { ReseedProgress } from './physical/progress.js';
import { replaySourceOf, reseed } from './reseed.js';
import { type SalvageRecord, salvage } from './salvage.js';
import {
  catchUp,
  fence,
  lowerSuperReadOnly,
  promote,
  raiseSuperReadOnly,
  resetReplication,
  type StepResult,
  setSemiSync,
  startReplication,
  stopReplication,
} from './server-steps.js';
import { upgradeStoredPlan } from './steps/stored.js';
import { dumpPrefix, operationPrefix, putJson, putText, subStore } from './store.js';

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
  if (step.kind === 'SwitchRouters' || step.kind === 'VerifyRouters') return step.to;
  return null;
}

function okSwitch(r: GroupSwitchResult): boolean {
  return r.outcome === 'switched' || r.outcome === 'unchanged';
}

/** A replica's matter, for the next run: what a Verify's `replica-matter` acceptance allows. */
const REPLICA_MATTER = ['ReplicaDown', 'RecoverNeeded', 'ReplicationLagging', 'ReplicaErrantTransactions'];

/** Steps that change a server: none runs while any group's routers are unknown (safety rule 7). */
const CHANGES_A_SERVER = new Set<Step['kind']>(['Fence', 'Promote', 'Salvage', 'Reseed']);

/**
 * Looks through every router of every group again, right before a step that changes a server: the
 * plan was made from an observation taken before the operation, and routers move meanwhile.
 * - Safety rule 7: while any group's routers are unknown (none answers), nobody knows where its writes
 *   go, so no server is changed.
 * - Safety rule 3 (`notRoutedTo`): a server that any router of any group sends new connections to takes
 *   writes, so it is never overwritten (found in the chaos suite: a group whose router had not been
 *   switched yet planned a recover that would have reseeded the new primary).
 */
async function guardServerChange(
  config: Config,
  step: Step,
  cred: { user: string; password: string },
  notRoutedTo?: ServerId,
): Promise<void> {
  const snapshot = await observeRouters(config, cred);
  // A group left without any router (its discovery found no instance) is as unknown as one whose
  // routers do not answer: the router observation alone carries no discovery, so it is stated here.
  const unknown = unknownRouterGroups({
    ...snapshot,
    discovery:
      snapshot.discovery ??
      config.groups.map((g) => ({
        group: g.name,
        source: g.ec2Tag ? ('ec2-tag' as const) : ('config' as const),
        found: g.routers.length,
      })),
  });
  if (unknown.length > 0) {
    throw new SafetyRefusalError(
      `refusing ${step.kind}: the routers of ${unknown.map((u) => `group ${u.group} (${u.reason})`).join(', ')} are unknown`,
      { details: { step: step.kind, unknown } },
    );
  }
  if (notRoutedTo === undefined) return;
  const routed = sendingTo(snapshot, notRoutedTo);
  if (routed.length > 0) {
    throw new SafetyRefusalError(
      `refusing to reseed ${notRoutedTo}: ${routed.map((r) => `router ${r}`).join(', ')} send(s) new connections to it`,
      { details: { server: notRoutedTo, routers: routed } },
    );
  }
}

/**
 * Issue 13, before a logical reseed overwrites `target` (the physical one checks the same in
 * physical/branch.ts): a server that others replicate from is never overwritten, and a writable one is
 * made read-only first (guardServerChange has just seen no router send to it), so no write lands on
 * it while it is replaced. Returns what was done, for the step's detail.
 */
async function prepareReseedTarget(
  target: ServerAdmin,
  source: ServerAdmin,
  keepUser: string,
  watchdogWritable: boolean,
) {
  await refuseIfReplicatedFrom(target, { notReplicas: [source] });
  const [r] = await target.query<{ ro: unknown }>('SELECT @@global.read_only AS ro');
  if (Number(r?.ro) === 1) return '';
  await fence(target, [keepUser], { watchdogWritable });
  return `${target.id} was writable: made read-only before it was overwritten; `;
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
  const replication = config.credentials.replication;

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

  /**
   * Points routers at `to` with `exclude` kept out. The participant's own groups must switch (a
   * failure fails the step). With `scope: 'all'` (the operation master) every other group of the
   * cluster is switched too, in parallel: a group whose watchdog did not run, failed or could not reach
   * the coordination server is not left behind on the old destinations. Those are best effort: a
   * failure is a warning, and that group's own watchdog catches up (RoutersBehind -> rejoin).
   */
  const switchRouters = async (
    to: ServerId,
    exclude: ServerId[],
    scope: 'own' | 'all',
  ): Promise<StepResult> => {
    const servers = config.servers.map((s) => s.id);
    // Fallbacks in promotion order; `never` and delayed replicas are none (core/policy.ts).
    const ranked = fallbackOrder(
      servers,
      to,
      promotionRules(config.servers),
      delayedReplicas(snapshot.servers),
    );
    const destinations = planDestinations(ranked, to, exclude);
    const others =
      scope === 'all' ? config.groups.map((g) => g.name).filter((g) => !input.groups.includes(g)) : [];
    const request = { destinations, fenced: exclude, dryRun: false };
    const [own, rest] = await Promise.all([
      Promise.allSettled(input.groups.map((group) => deps.routers.switch(group, request))),
      Promise.allSettled(others.map((group) => deps.routers.switch(group, request))),
    ]);
    const results: GroupSwitchResult[] = [];
    own.forEach((settled, i) => {
      const group = input.groups[i]!;
      if (settled.status === 'rejected') throw settled.reason;
      const r = settled.value;
      results.push(r);
      if (!okSwitch(r)) {
        throw new RouterSwitchError(`group ${group}: routers ${r.outcome}: ${r.message}`, {
          details: { group, outcome: r.outcome },
        });
      }
    });
    rest.forEach((settled, i) => {
      const group = others[i]!;
      if (settled.status === 'fulfilled') results.push(settled.value);
      const problem =
        settled.status === 'rejected'
          ? errorMessage(settled.reason)
          : okSwitch(settled.value)
            ? null
            : `${settled.value.outcome}: ${settled.value.message}`;
      if (problem) result.warnings.push(`routers of group ${group} not switched to ${to}: ${problem}`);
    });
    return {
      detail: `${[...input.groups, ...others].join(', ')} -> ${destinations.join(', ')}${exclude.length ? ` (fenced: ${exclude.join(', ')})` : ''}: ${results.map((r) => `${r.group} ${r.outcome}`).join(', ')}`,
      data: {
        destinations,
        fenced: exclude,
        results: results.map((r) => ({ group: r.group, outcome: r.outcome, durationMs: r.durationMs })),
      },
    };
  };

  const verifyOwnRouters = async (to: ServerId): Promise<StepResult> => {
    let last = '';
    for (let attempt = 0; attempt < 40; attempt++) {
      const snap = await deps.observe();
      const mine = snap.routers.filter((r) => input.groups.includes(r.group));
      const wrong = mine.filter((r) => r.routesTo !== to);
      if (mine.length > 0 && wrong.length === 0) {
        return { detail: `${mine.length} router(s) of ${input.groups.join(', ')} land on ${to}` };
      }
      last = wrong
        .map((r) => `${r.group}/${r.id} -> ${r.routesTo ?? r.error?.message ?? 'nothing'}`)
        .join('; ');
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new RouterSwitchError(`routers do not land on ${to}: ${last}`);
  };

  const verify = async (step: Extract<Step, { kind: 'Verify' }>): Promise<StepResult> => {
    const { expect } = step;
    let code = '';
    let analysis: Analysis | null = null;
    for (let attempt = 0; attempt < 60; attempt++) {
      const snap = await deps.observe();
      const now = analyze(snap);
      analysis = now;
      code = now.code;
      // What the plan accepts besides `expect` (core/planner.ts VerifyAcceptance): a replica's matter
      // left for the next run with the operation's primary the primary.
      const accepted = step.accept.find((a) => now.primary === a.primary && REPLICA_MATTER.includes(code));
      if (accepted) {
        return {
          detail: `analysis ${code} with ${accepted.primary} the primary (expected ${expect}); left for the next run: ${now.evidence[0] ?? ''}`,
          data: { code },
        };
      }
      if (code === expect || code === 'Ok') {
        const checks: string[] = [];
        if (code === 'Ok' && analysis.primary) {
          const primary = analysis.primary;
          for (const s of snap.servers) {
            if (s.id === primary || !s.reachable || s.replication?.sourceId !== primary) continue;
            // A replica that was just re-pointed may still be settling (relay log, reconnect): a
            // difference must persist over three comparisons before the verification fails.
            let cmp = await compareChecksums(await pool.get(primary), await pool.get(s.id));
            for (let retry = 1; retry < 3 && !cmp.consistent; retry++) {
              await new Promise((r) => setTimeout(r, 1_000));
              cmp = await compareChecksums(await pool.get(primary), await pool.get(s.id));
            }
            result.checksums.push({ replica: s.id, ...cmp });
            if (!cmp.consistent) {
              throw new StateChangeRefusedError(
                `${s.id} differs from ${primary}: ${[...cmp.differing.map((d) => d.table), ...cmp.missing.map((m) => `${m.table} missing on ${m.on}`)].join(', ')}`,
                { details: { replica: s.id, ...cmp } },
              );
            }
            checks.push(`${s.id}: ${cmp.tables} tables equal to ${primary} at ${cmp.position}`);
          }
        }
        return {
          detail: `analysis ${code}${checks.length ? `; CHECKSUM TABLE ${checks.join('; ')}` : ''}`,
          data: { code, checksums: result.checksums },
        };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new StateChangeRefusedError(
      `verification expected ${expect}, the cluster is ${code}: ${analysis?.evidence.slice(0, 3).join('; ')}`,
    );
  };

  const runStep = async (step: Step, ctx: MasterContext, stored: StoredPlan): Promise<StepResult> => {
    if (CHANGES_A_SERVER.has(step.kind)) {
      await guardServerChange(config, step, cred!, step.kind === 'Reseed' ? step.server : undefined);
    }
    const prefix = () => operationPrefix(config, ctx.openedEpoch);
    switch (step.kind) {
      case 'Fence': {
        let admin: Awaited<ReturnType<AdminPool['get']>>;
        try {
          admin = await pool.get(step.server);
        } catch (error) {
          if (step.ifReachable) {
            await markFenced(db, step.server, ctx.openedEpoch, 'unreachable; fence when it returns');
            return {
              outcome: 'skipped',
              detail: `${step.server} unreachable (${errorMessage(error)}); kept out of every router until rebuilt`,
            };
          }
          throw error;
        }
        const r = await fence(admin, [cred.user], { watchdogWritable: step.server === coordinationId });
        await markFenced(db, step.server, ctx.openedEpoch, `fenced by ${stored.operation}`);
        return r;
      }
      case 'CatchUp': {
        const timeout = deps.catchUpTimeoutSeconds ?? 60;
        if (step.waitFor.kind === 'position-of') {
          const old = await pool.get(step.waitFor.server);
          const [g] = await old.query<Record<string, unknown>>(
            `SELECT @@global.${old.flavor.executedGtidVariable()} AS pos`,
          );
          return catchUp(await pool.get(step.server), timeout, String(g?.pos ?? ''));
        }
        return catchUp(await pool.get(step.server), timeout);
      }
      case 'StopReplication':
        return stopReplication(await pool.get(step.server));
      case 'ResetReplication':
        return resetReplication(await pool.get(step.server));
      case 'Promote':
        return promote(await pool.get(step.server));
      case 'SemiSync':
        return setSemiSync(await pool.get(step.server), step.role);
      case 'WriteTarg':
        await ctx.writeTarg(step.server);
        return { detail: `TARG ${step.server}` };
      case 'SwitchRouters': {
        for (const s of step.exclude)
          await markFenced(db, s, ctx.openedEpoch, `kept out of routers by ${stored.operation}`);
        // Every server the watchdog fenced and has not rebuilt stays out, not only the plan's.
        const fencedNow = (await readFenced(db)).filter((s) => s !== step.to);
        return switchRouters(step.to, [...new Set([...step.exclude, ...fencedNow])], 'all');
      }
      case 'VerifyRouters':
        return verifyOwnRouters(step.to);
      case 'Salvage': {
        const name = serverById(config, step.server).name;
        const record = await salvage({
          old: await pool.get(step.server),
          newPrimary: await pool.get(step.missingOn),
          store: subStore(deps.store(), `${prefix()}/salvage-${name}`),
          watchdog: { ...cred, ...mysqlTls(config.tls) },
          ...(replication ? { replication } : {}),
          signal: ctx.signal,
        });
        result.salvage.push(record);
        return {
          detail: `${record.count} transaction(s) of ${step.server} missing on ${step.missingOn}${record.difference ? ` (${record.difference})` : ''}; saved: ${record.url}${record.binlogExtract ? `, events ${record.binlogExtract.url}` : ''}${record.backup ? `, backup ${record.backup.url} (${record.backup.rows} rows)` : ''}`,
          data: { url: record.url, count: record.count, difference: record.difference },
        };
      }
      case 'Reseed': {
        const name = serverById(config, step.server).name;
        // config.reseed chooses: a physical rebuild on the hosts (or CLONE), else the logical dump below.
        const physical = await physicalIfChosen({
          config,
          db,
          openedEpoch: ctx.openedEpoch,
          source: await pool.get(step.from),
          target: step.server,
          connectTarget: async () => {
            await pool.drop(step.server);
            return pool.get(step.server);
          },
          ...(deps.hostCommands ? { commands: deps.hostCommands } : {}),
          store: deps.store(),
          key: `${prefix()}/physical-${name}/backup.xb.gz`,
          donorAccount: { user: cred!.user, password: cred!.password },
          beforeRestore: () => guardServerChange(config, step, cred!, step.server),
          signal: ctx.signal,
          log,
          onProgress: (p) => {
            result.reseedProgress = p;
          },
        });
        if (physical) return physical;
        const target = await pool.get(step.server);
        const source = await pool.get(step.from);
        const prepared = await prepareReseedTarget(target, source, cred.user, step.server === coordinationId);
        const reseeded = await reseed({
          target,
          source,
          // Dumps apart from the records: the lifecycle expires them, never salvage or audit records.
          store: subStore(deps.store(), `${dumpPrefix(config, ctx.openedEpoch)}/reseed-${name}`),
          watchdog: { ...cred, ...mysqlTls(config.tls) },
          ...(replication ? { replication: replaySourceOf(config, step.from, replication) } : {}),
          signal: ctx.signal,
        });
        return { ...reseeded, detail: `${prepared}${reseeded.detail}` };
      }
      case 'StartReplication': {
        if (!replication)
          throw new ConfigError('credentials.replication is missing: cannot start replication');
        const src = serverById(config, step.from);
        const admin = await pool.get(step.server);
        // A rebuilt server joins as a read-only replica, whatever happened during its rebuild (a
        // restart drops a read_only set with SET GLOBAL): it goes back into the routers as a fallback
        // only, and a router that falls back to it gets no write through until it is promoted.
        const kept = step.keepReadOnly
          ? await fence(admin, [cred.user], { watchdogWritable: step.server === coordinationId })
          : null;
        const r = await startReplication(admin, {
          sourceHost: src.replicationHost,
          sourcePort: src.replicationPort,
          user: replication.user,
          password: replication.password,
          gtidMode: step.gtidMode,
          timeoutMs: 30_000,
          tls: replicationTls(config.tls),
        });
        await clearFenced(db, step.server);
        return kept ? { ...r, detail: `${r.detail}; kept read-only (${kept.detail})` } : r;
      }
      case 'JoinElection':
        return { outcome: 'skipped', detail: 'joined the election' };
      case 'Verify':
        return verify(step);
      case 'Alert':
        log('alert', { severity: step.severity, message: step.message });
        return { detail: step.message };
      case 'Hook':
        return runHookStep(step, deps.hooks ?? hookRunner, {
          cluster: config.clusterName,
          openedEpoch: ctx.openedEpoch,
          signal: ctx.signal,
          warn: (text) => result.warnings.push(text),
        });
    }
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
    await audit.step(0, 'SwitchRouters', targ, () => switchRouters(targ, exclude, 'own'));
    await audit.step(1, 'VerifyRouters', targ, () => verifyOwnRouters(targ));
  };

  /**
   * Once a server the operation rebuilt replicates again, every participant puts it back into its
   * routers' destinations (the master: into every group's) as a fallback behind the primary (it stays read-only: a router that falls
   * back to it gets no write through until the watchdog promotes it). Servers still fenced stay out.
   */
  const restoreRouterRedundancy = async (): Promise<void> => {
    if (!['completed', 'completed-with-timeouts', 'followed'].includes(result.outcome)) return;
    if (result.openedEpoch === null) return;
    const stored = await loadPlan<StoredPlan>(db, result.openedEpoch);
    const rebuilt = stored?.steps.flatMap((s) => (s.kind === 'StartReplication' ? [s] : [])) ?? [];
    if (rebuilt.length === 0) return;
    const journal = await readSteps(db, result.openedEpoch);
    const started = journal.filter((j) => j.kind === 'StartReplication' && j.state === 'done').length;
    if (started < rebuilt.length) return;
    const primary = rebuilt[0]!.from;
    const fencedNow = (await readFenced(db)).filter((s) => s !== primary);
    try {
      await audit.step(stored!.steps.length, 'SwitchRouters', primary, () =>
        switchRouters(primary, fencedNow, result.role === 'master' ? 'all' : 'own'),
      );
    } catch (error) {
      // The operation itself is done and the routers still point at the primary (safe); only the
      // fallback destination is missing. The next operation's switch or an operator adds it.
      result.warnings.push(`rebuilt server not re-added to the routers: ${errorMessage(error)}`);
    }
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
    await restoreRouterRedundancy();
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
