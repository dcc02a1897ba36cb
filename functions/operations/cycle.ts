/**
 * One run of the watchdog for one backend group: observe -> analyze -> plan -> execute -> report.
 * The Lambda handler and the CLI both call `runCycle`; neither holds logic of its own.
 *
 * A dry run (or a status request) stops after the plan (`mode: "detect-and-plan"`); otherwise an
 * operation or an operation in progress is executed through the election (`mode: "execute"`,
 * execute.ts). Before planning, the coordination server is asked for the anti-flap period (the last
 * primary change in its history) and for the servers the watchdog fenced and still owes a rebuild.
 */

import { discoverRouters, type FindTagged } from '../cluster/discovery.js';
import { ConnectionCache, observe, targetFromConfig } from '../cluster/observe.js';
import { mysqlTls } from '../cluster/tls.js';
import { type Config, findGroup } from '../config/schema.js';
import { type Analysis, analyze } from '../core/analysis.js';
import { forcedPlan } from '../core/force.js';
import { hookSpecs, withHooks } from '../core/hooks.js';
import { type Plan, plan } from '../core/planner.js';
import {
  activeMaintenance,
  antiFlapHold,
  applyMaintenance,
  applyPromotionRules,
  MOVES_PRIMARY,
  promotionRules,
  refusePromotion,
} from '../core/policy.js';
import { type RouterDiscovery, type Snapshot, snapshotToJson } from '../core/snapshot.js';
import { pickCoordinationServer } from '../election/coordination-server.js';
import { connectCoordinationDb } from '../election/db.js';
import { asWatchdogError, errorMessage } from '../errors.js';
import { localRouterSwitchFromConfig } from '../routers/cli.js';
import type { RouterSwitch } from '../routers/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Invocation } from '../triggers/events.js';
import { type ControlState, primaryChangeKey, readControl, writeControl } from './control-store.js';
import type { OperationResult } from './execute.js';
import { readFenced } from './journal.js';
import { owedRebuildPlan } from './owed-rebuild.js';
import type { HostCommands } from './physical/commands.js';
import { readRunningReseeds } from './physical/journal.js';
import type { ReseedProgress } from './physical/progress.js';

/** The logging the cycle needs; Powertools' Logger and console-like objects both fit. */
export interface CycleLogger {
  info(message: string, extra: Record<string, unknown>): void;
  warn(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

export interface CycleDeps {
  logger?: CycleLogger;
  /** Aborted when the deadline comes near. */
  signal?: AbortSignal;
  /** Connections kept between cycles of a warm container (the handler and benchmarks pass one). */
  cache?: ConnectionCache;
  now?: () => Date;
  /**
   * Until when the anti-flap period blocks operations. Default: core/policy.ts antiFlapHold over the
   * primary changes in the control store (control-store.ts).
   */
  antiFlapUntil?: Date | null;
  /**
   * How routers are switched (default: the router script run locally, for every group). A function
   * gets this run's configuration, with the routers discovered by tag (the SSM switch targets them).
   */
  routers?: RouterSwitch | ((config: Config) => RouterSwitch | Promise<RouterSwitch>);
  /** Finds the running instances carrying a group's EC2 tag (groups configured with `ec2Tag`). */
  findTagged?: FindTagged;
  /** Object storage for salvage, dumps and audit (default: config.objectStore). */
  store?: () => ObjectStore;
  /** Election participant id (default: group@pid-random). */
  participant?: string;
  /** Where physical reseeds run their commands (SSM or local bash); absent: logical on MariaDB. */
  hostCommands?: HostCommands;
}

export interface CycleReport {
  cluster: string;
  group: string | null;
  trigger: Invocation['trigger'];
  action: Invocation['action'];
  alarm?: Invocation['alarm'];
  dryRun: boolean;
  force: boolean;
  /** What this run does with a plan: `execute` unless it is a dry run or a status request. */
  mode: 'detect-and-plan' | 'execute';
  startedAt: string;
  analysis?: Analysis;
  plan?: Plan;
  /** Where each group's routers came from this run (configuration or EC2 tag), and any failure. */
  discovery?: RouterDiscovery[];
  /** The observation the analysis was made from (JSON form). */
  snapshot?: unknown;
  timings: { observeMs?: number; analyzeMs?: number; planMs?: number; totalMs: number };
  queries?: number;
  /** The anti-flap period in force when planning, and the servers owed a rebuild. */
  coordination?: {
    server: string | null;
    antiFlapUntil: string | null;
    fenced: string[];
    /** Physical reseeds still running on their hosts (bytes, rate, ETA). */
    reseeds?: ReseedProgress[];
    error?: string;
  };
  /** The operator-control store as read for this run (maintenance windows in force, where it was read). */
  control?: Pick<ControlState, 'readFrom' | 'unreadable' | 'repaired'> & {
    maintenance: ControlState['maintenance'];
    error?: string;
  };
  /** What the execution did (steps, salvage, audit record), when a plan was executed. */
  operation?: OperationResult;
  error?: Record<string, unknown>;
}

const silent: CycleLogger = { info() {}, warn() {}, error() {} };

function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

/** Owed rebuilds, from the coordination server the routers point at (best effort). */
async function coordinationFacts(
  config: Config,
  snapshot: Snapshot,
): Promise<{
  server: string | null;
  fenced: string[];
  reseeds: ReseedProgress[];
  error?: string;
}> {
  const pick = pickCoordinationServer({
    servers: snapshot.servers.map((s) => ({ host: s.host, port: s.port, reachable: s.reachable })),
    routers: snapshot.routers.map((r) => ({
      reachable: r.reachable,
      target: r.routesTo
        ? {
            host: r.routesTo.slice(0, r.routesTo.lastIndexOf(':')),
            port: Number(r.routesTo.slice(r.routesTo.lastIndexOf(':') + 1)),
          }
        : null,
    })),
  });
  if (!pick.server) return { server: null, fenced: [], reseeds: [], error: pick.reason };
  const server = `${pick.server.host}:${pick.server.port}`;
  const cred = config.credentials.watchdog!;
  try {
    const db = await connectCoordinationDb({
      ...pick.server,
      ...cred,
      ...mysqlTls(config.tls),
      connectTimeoutMs: config.timeouts.connectMs,
    });
    try {
      return {
        server,
        fenced: await readFenced(db),
        reseeds: await readRunningReseeds(db),
      };
    } finally {
      await db.close();
    }
  } catch (error) {
    return { server, fenced: [], reseeds: [], error: errorMessage(error) };
  }
}

const nowMsAfter = (deps: CycleDeps): number => (deps.now?.() ?? new Date()).getTime();

/**
 * The operation master records a completed primary change in the control store (on every server that
 * answers): the durable history anti-flap reads (core/policy.ts antiFlapHold). Best effort: a failure
 * becomes a warning of the operation, never a failed operation.
 */
async function recordPrimaryChange(config: Config, p: Plan, op: OperationResult, at: number): Promise<void> {
  if (op.role !== 'master' || !op.outcome.startsWith('completed') || !op.operation) return;
  if (!MOVES_PRIMARY.has(op.operation) || op.openedEpoch === null) return;
  const key = primaryChangeKey(op.coordinationServer ?? 'unknown', op.openedEpoch);
  try {
    const write = await writeControl(config, [
      {
        key,
        kind: 'primary-change',
        versionMs: at,
        writtenBy: op.participant,
        body: {
          operation: op.operation,
          from: p.steps.find((s) => s.kind === 'Fence')?.server ?? null,
          to: op.target,
          at,
          forced: p.forced !== undefined,
          reason: p.reason,
        },
      },
    ]);
    if (write.writtenTo.length < Math.min(2, config.servers.length)) {
      op.warnings.push(
        `primary change recorded on ${write.writtenTo.join(', ') || 'no server'} only (anti-flap history): ${write.failed.map((f) => `${f.server}: ${f.error}`).join('; ')}`,
      );
    }
  } catch (error) {
    op.warnings.push(`primary change not recorded (anti-flap history): ${errorMessage(error)}`);
  }
}

/** The report's view of the coordination facts (the anti-flap end is filled in by the caller). */
function coordinationOf(
  facts: Awaited<ReturnType<typeof coordinationFacts>>,
): NonNullable<CycleReport['coordination']> {
  return {
    server: facts.server,
    antiFlapUntil: null,
    fenced: facts.fenced,
    ...(facts.reseeds.length ? { reseeds: facts.reseeds } : {}),
    ...(facts.error ? { error: facts.error } : {}),
  };
}

async function routerSwitchFor(config: Config, given: CycleDeps['routers']): Promise<RouterSwitch> {
  if (given === undefined) return localRouterSwitchFromConfig(config);
  return typeof given === 'function' ? given(config) : given;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export async function runCycle(
  configured: Config,
  invocation: Invocation,
  deps: CycleDeps = {},
): Promise<CycleReport> {
  let config = configured;
  const logger = deps.logger ?? silent;
  const t0 = performance.now();
  const startedAt = (deps.now?.() ?? new Date()).toISOString();
  const report: CycleReport = {
    cluster: config.clusterName,
    group: invocation.group ?? null,
    trigger: invocation.trigger,
    action: invocation.action,
    ...(invocation.alarm ? { alarm: invocation.alarm } : {}),
    dryRun: invocation.dryRun,
    force: invocation.force,
    mode: invocation.dryRun || invocation.action === 'status' ? 'detect-and-plan' : 'execute',
    startedAt,
    timings: { totalMs: 0 },
  };
  const ownCache = deps.cache === undefined;
  const cache = deps.cache ?? new ConnectionCache();
  try {
    if (invocation.group !== undefined) findGroup(config, invocation.group);
    const credentials = config.credentials.watchdog!;
    // Routers found by EC2 tag are found again every run (backends come and go); from here on this
    // run's configuration holds them, for observation, analysis, every guard and the router switch.
    const found = await discoverRouters(config, deps.findTagged, deps.signal);
    config = found.config;
    report.discovery = found.discovery;
    // Every group's routers are observed (one query each): the group's own decide where its primary
    // is, the others show whether it missed a switch (RoutersBehind), and every group's watchdog picks
    // the same coordination server from the same routers. Operations verify their own group only.
    const target = targetFromConfig(config);
    const ownTarget = invocation.group === undefined ? target : targetFromConfig(config, [invocation.group]);
    const analyzeOptions = invocation.group === undefined ? {} : { group: invocation.group };

    const tObserve = performance.now();
    const observeOptions = {
      user: credentials.user,
      password: credentials.password,
      connectTimeoutMs: config.timeouts.connectMs,
      queryTimeoutMs: config.timeouts.queryMs,
      ...mysqlTls(config.tls),
      cache,
      ...(deps.now ? { now: deps.now } : {}),
    };
    const snapshot: Snapshot = { ...(await observe(target, observeOptions)), discovery: found.discovery };
    report.timings.observeMs = round(performance.now() - tObserve);
    report.queries = snapshot.queries;
    report.snapshot = snapshotToJson(snapshot);

    const tAnalyze = performance.now();
    report.analysis = analyze(snapshot, analyzeOptions);
    report.timings.analyzeMs = round(performance.now() - tAnalyze);
    logger.info('analysis', { code: report.analysis.code, group: report.group });

    if (invocation.action === 'status' && report.analysis.code === 'OperationInProgress') {
      // A long physical reseed runs on its hosts between runs: status shows how far it is.
      const facts = await coordinationFacts(config, snapshot);
      report.coordination = coordinationOf(facts);
    }
    if (invocation.action !== 'status') {
      const nowMs = (deps.now?.() ?? new Date()).getTime();
      let antiFlapUntil = deps.antiFlapUntil?.getTime() ?? null;
      let fenced: string[] = [];
      let control: ControlState | null = null;
      if (report.analysis.code !== 'Ok' || invocation.action === 'switchover') {
        const [facts, read] = await Promise.all([
          coordinationFacts(config, snapshot),
          readControl(config, { repair: true }).catch((error: unknown) => errorMessage(error)),
        ]);
        control = typeof read === 'string' ? null : read;
        report.control = control
          ? {
              maintenance: activeMaintenance(control.maintenance, nowMs),
              readFrom: control.readFrom,
              unreadable: control.unreadable,
              repaired: control.repaired,
            }
          : { maintenance: [], readFrom: [], unreadable: [], repaired: [], error: read as string };
        report.coordination = coordinationOf(facts);
        fenced = facts.fenced;
        // A group whose routers still use a server the watchdog fenced missed a switch: the journal
        // is part of what the analysis weighs (RoutersBehind rather than a split brain).
        if (fenced.length > 0) report.analysis = analyze(snapshot, { ...analyzeOptions, fenced });
        if (deps.antiFlapUntil === undefined && control) {
          antiFlapUntil = antiFlapHold(control.history, nowMs, config.antiFlapSeconds)?.until ?? null;
        }
        if (antiFlapUntil !== null) report.coordination.antiFlapUntil = new Date(antiFlapUntil).toISOString();
      }
      const tPlan = performance.now();
      // `force` is decided by core/force.ts below (an explicit target, the second flag for data loss).
      const context = {
        dryRun: invocation.dryRun,
        force: false,
        antiFlapUntil,
        now: nowMs,
        servers: config.servers.map((s) => s.id),
        ...(invocation.target ? { switchoverTo: invocation.target } : {}),
        splitBrainPolicy: config.splitBrainPolicy,
        requested: invocation.action,
        semiSync: config.semiSync,
      };
      // Anti-flap guards against moving the primary back and forth; rebuilding a replica from the
      // current primary moves nothing, so a recover is never held back by it.
      // Promotion rules may name another candidate than the routers' fallback (core/policy.ts).
      const ranked = applyPromotionRules(report.analysis, snapshot.servers, {
        rules: promotionRules(config.servers),
        maxLagSeconds: config.maxLagSecondsForPromotion ?? null,
      });
      const toPlan = 'analysis' in ranked ? ranked.analysis : report.analysis;
      const unblocked = plan(toPlan, { ...context, antiFlapUntil: null });
      const planned =
        owedRebuildPlan(toPlan, fenced, context) ??
        (unblocked.operation === 'recover' ? unblocked : plan(toPlan, context));
      report.plan = applyMaintenance(
        'refuse' in ranked
          ? refusePromotion(planned, ranked.refuse)
          : ranked.note
            ? { ...planned, reason: `${planned.reason}; ${ranked.note}` }
            : planned,
        toPlan,
        report.control?.maintenance ?? [],
      );
      const forced = invocation.force
        ? forcedPlan(
            report.analysis,
            snapshot.servers,
            {
              action: invocation.action,
              target: invocation.target,
              allowDataLoss: invocation.allowDataLoss ?? false,
              reason: invocation.reason,
            },
            context,
            report.plan,
          )
        : null;
      if (forced) report.plan = applyMaintenance(forced, report.analysis, report.control?.maintenance ?? []);
      report.plan = withHooks(report.plan, hookSpecs(config.hooks));
      report.timings.planMs = round(performance.now() - tPlan);

      const p = report.plan;
      if (!invocation.dryRun && (p.kind === 'operation' || p.kind === 'follow')) {
        const groups = invocation.group === undefined ? config.groups.map((g) => g.name) : [invocation.group];
        // Loaded on first use: a check that runs no operation never compiles the operations, dumps and
        // the object-store client (a smaller cold start, see bench/check.ts).
        const [{ executeOperation }, { openConfiguredStore }] = await Promise.all([
          import('./execute.js'),
          import('./store.js'),
        ]);
        report.operation = await executeOperation(
          { config, groups, plan: p, analysis: report.analysis, snapshot },
          {
            routers: await routerSwitchFor(config, deps.routers),
            store:
              deps.store ??
              memo(() => openConfiguredStore(config, deps.signal ? { signal: deps.signal } : {})),
            observe: () => observe(ownTarget, { ...observeOptions, readOperation: false }),
            ...(deps.signal ? { signal: deps.signal } : {}),
            ...(deps.participant ? { participant: deps.participant } : {}),
            ...(deps.hostCommands ? { hostCommands: deps.hostCommands } : {}),
            catchUpTimeoutSeconds: config.catchUpTimeoutSeconds,
            log: (message, extra) => logger.info(message, { group: report.group, ...extra }),
          },
        );
        await recordPrimaryChange(config, p, report.operation, nowMsAfter(deps));
        logger.info('operation', {
          group: report.group,
          operation: report.operation.operation,
          role: report.operation.role,
          outcome: report.operation.outcome,
        });
      }
    }
  } catch (error) {
    const wrapped = asWatchdogError(error, 'cycle failed');
    logger.error('cycle failed', { error: wrapped.toJSON() });
    report.error = wrapped.toJSON();
  } finally {
    if (ownCache) await cache.close();
  }
  report.timings.totalMs = round(performance.now() - t0);
  return report;
}
