/**
 * One run of the watchdog for one backend group: observe -> analyze -> plan -> report.
 * The Lambda handler and the CLI both call `runCycle`; neither holds logic of its own.
 *
 * This build detects, analyses and plans; the report says so (`mode: "detect-and-plan"`). The plan's
 * steps are executed by the operations layer once it is enabled.
 */

import { ConnectionCache, observe, targetFromConfig } from '../cluster/observe.js';
import { type Config, findGroup } from '../config/schema.js';
import { type Analysis, analyze } from '../core/analysis.js';
import { type Plan, plan } from '../core/planner.js';
import { type Snapshot, snapshotToJson } from '../core/snapshot.js';
import { asWatchdogError } from '../errors.js';
import type { Invocation } from '../triggers/events.js';

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
  /** Until when the anti-flap period blocks operations (read from the audit history when available). */
  antiFlapUntil?: Date | null;
}

export interface CycleReport {
  cluster: string;
  group: string | null;
  trigger: Invocation['trigger'];
  action: Invocation['action'];
  alarm?: Invocation['alarm'];
  dryRun: boolean;
  force: boolean;
  /** What this build does with a plan. */
  mode: 'detect-and-plan';
  startedAt: string;
  analysis?: Analysis;
  plan?: Plan;
  /** The observation the analysis was made from (JSON form). */
  snapshot?: unknown;
  timings: { observeMs?: number; analyzeMs?: number; planMs?: number; totalMs: number };
  queries?: number;
  error?: Record<string, unknown>;
}

const silent: CycleLogger = { info() {}, warn() {}, error() {} };

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export async function runCycle(
  config: Config,
  invocation: Invocation,
  deps: CycleDeps = {},
): Promise<CycleReport> {
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
    mode: 'detect-and-plan',
    startedAt,
    timings: { totalMs: 0 },
  };
  const ownCache = deps.cache === undefined;
  const cache = deps.cache ?? new ConnectionCache();
  try {
    if (invocation.group !== undefined) findGroup(config, invocation.group);
    const credentials = config.credentials.watchdog!;
    const target = targetFromConfig(config, invocation.group === undefined ? undefined : [invocation.group]);

    const tObserve = performance.now();
    const snapshot: Snapshot = await observe(target, {
      user: credentials.user,
      password: credentials.password,
      connectTimeoutMs: config.timeouts.connectMs,
      queryTimeoutMs: config.timeouts.queryMs,
      cache,
      ...(deps.now ? { now: deps.now } : {}),
    });
    report.timings.observeMs = round(performance.now() - tObserve);
    report.queries = snapshot.queries;
    report.snapshot = snapshotToJson(snapshot);

    const tAnalyze = performance.now();
    report.analysis = analyze(snapshot);
    report.timings.analyzeMs = round(performance.now() - tAnalyze);
    logger.info('analysis', { code: report.analysis.code, group: report.group });

    if (invocation.action !== 'status') {
      const tPlan = performance.now();
      report.plan = plan(report.analysis, {
        dryRun: invocation.dryRun,
        force: invocation.force,
        antiFlapUntil: deps.antiFlapUntil?.getTime() ?? null,
        now: (deps.now?.() ?? new Date()).getTime(),
        servers: config.servers.map((s) => s.id),
        ...(invocation.target ? { switchoverTo: invocation.target } : {}),
        splitBrainPolicy: config.splitBrainPolicy,
        requested: invocation.action,
      });
      report.timings.planMs = round(performance.now() - tPlan);
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
