/**
 * The Lambda handler: one function per backend group, started by the EventBridge schedule, by a
 * CloudWatch alarm (EventBridge or SNS), by a manual invoke from the console, or by itself to continue
 * an operation that reached the deadline. It stays thin: parse the event, load the configuration (kept
 * for at most CONFIG_MAX_AGE_MS), find the routers, run one cycle, then send what the report asks for
 * (SNS summary or alert, continuation). A failed cycle of a schedule, alarm or continuation run throws
 * (the function's Errors alarm and on-failure destination see it) and counts in the FailedCycle metric;
 * a console invoke gets `{ok: false, error}`.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { awsClientOptions } from './aws/client-options.js';
import { ec2TagFinder, type FindTagged } from './cluster/discovery.js';
import type { Config } from './config/schema.js';
import { CachedConfig, loadConfig } from './config/sources.js';
import { CycleFailedError, errorMessage, WatchdogError } from './errors.js';
import { alertKey, decideAlert, readAlertState, writeAlertState } from './operations/alerts.js';
import { type CycleReport, runCycle } from './operations/cycle.js';
import { runMaintenanceCommand } from './operations/maintenance-command.js';
import { addMetricDimensions, recordCycleMetrics } from './operations/metrics.js';
import {
  alertSummary,
  continuationEvent,
  operationSummary,
  recordOperationMetrics,
} from './operations/notify.js';
import type { HostCommands } from './operations/physical/commands.js';
import { localRouterSwitchFromConfig } from './routers/cli.js';
import type { RouterSwitch } from './routers/types.js';
import type { ObjectStore } from './storage/object-store.js';
import { coveredByEarlierCycle } from './triggers/coalesce.js';
import { checkOwnGroup, type Invocation, parseEvent, parseMaintenanceEvent } from './triggers/events.js';
import {
  decideRepeat,
  type RequestRecord,
  requestIdOf,
  requestKey,
  startRecord,
} from './triggers/idempotency.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'mysql-failover';
const logger = new Logger({ serviceName });
const metrics = new Metrics({ namespace: process.env.METRICS_NAMESPACE ?? 'MysqlFailover', serviceName });

// SDK clients are built once per container and reused while warm, each with connect and request
// timeouts (aws/client-options.ts). Each SDK client module is imported on first use, so a check that
// needs none of them (the common case) does not compile them at cold start (bench/check.ts measures it).
let ssm: SSMClient | undefined;
let secrets: SecretsManagerClient | undefined;
let sns: SNSClient | undefined;
let lambda: LambdaClient | undefined;
let ec2: EC2Client | undefined;

async function ssmClient(): Promise<SSMClient> {
  if (!ssm) {
    const { SSMClient } = await import('./aws/ssm.js');
    ssm ??= new SSMClient(awsClientOptions());
  }
  return ssm;
}

async function secretsClient(): Promise<SecretsManagerClient> {
  if (!secrets) {
    const { SecretsManagerClient } = await import('./aws/secrets.js');
    secrets ??= new SecretsManagerClient(awsClientOptions());
  }
  return secrets;
}

/** DescribeInstances for the groups that find their routers by EC2 tag; undefined when none does. */
async function tagFinder(cfg: Config): Promise<FindTagged | undefined> {
  if (!cfg.groups.some((g) => g.ec2Tag)) return undefined;
  if (!ec2) {
    const { EC2Client } = await import('./aws/ec2.js');
    ec2 ??= new EC2Client(awsClientOptions());
  }
  return ec2TagFinder(ec2);
}

/**
 * Routers are switched through SSM Run Command when the stack's document is set (the configuration
 * was checked for it when loaded: every group has instances to target); otherwise the router script
 * runs on this host. Built from each run's configuration, whose tag groups hold the routers found now.
 */
async function routersFor(cfg: Config, signal: AbortSignal): Promise<RouterSwitch> {
  const documentName = process.env.ROUTER_DOCUMENT;
  if (!documentName) return localRouterSwitchFromConfig(cfg);
  const { ssmRouterSwitchFromConfig } = await import('./routers/ssm-from-config.js');
  const client = await ssmClient();
  // Every SSM call of the switch carries the run's abort signal (a command already sent still runs on
  // its instances; the next run sees where the routers point).
  const send = ((command: Parameters<SSMClient['send']>[0], options?: { abortSignal?: AbortSignal }) =>
    client.send(command, { ...options, abortSignal: signal })) as SSMClient['send'];
  return ssmRouterSwitchFromConfig(cfg, { send }, { documentName });
}

/**
 * Physical reseeds on MariaDB run on the database hosts through the PhysicalReseed document
 * (RESEED_DOCUMENT) when the config names the hosts (reseed.hosts); otherwise there is no host to run
 * them on and `auto` stays logical.
 */
async function hostCommandsFor(cfg: Config): Promise<HostCommands | undefined> {
  const documentName = process.env.RESEED_DOCUMENT;
  if (!documentName || Object.keys(cfg.reseed.hosts).length === 0) return undefined;
  const { SsmHostCommands } = await import('./operations/physical/ssm-commands.js');
  return new SsmHostCommands({ client: await ssmClient(), config: cfg, documentName });
}

/** Time kept back for the report, the SNS summary and the continuation after an operation stops. */
const WRAP_UP_MS = Number(process.env.WRAP_UP_MS ?? 5_000);
/** How long a warm container keeps the configuration and secrets before reading them again. */
const CONFIG_MAX_AGE_MS = Number(process.env.CONFIG_MAX_AGE_MS ?? 300_000);
/** How often a critical alert that lasts is sent again. */
const ALERT_REMINDER_MS = Number(process.env.ALERT_REMINDER_MINUTES ?? 60) * 60_000;

/** The run's abort signal, for the configuration reads it may trigger. */
let runSignal: AbortSignal | undefined;

const configs = new CachedConfig(
  () =>
    loadConfig({
      env: process.env,
      ssm: ssmClient,
      secrets: secretsClient,
      ...(runSignal ? { signal: runSignal } : {}),
    }),
  CONFIG_MAX_AGE_MS,
);

/** Time kept back before the Lambda deadline: work is aborted cleanly and the report still returned. */
const DEADLINE_MARGIN_MS = Number(process.env.DEADLINE_MARGIN_MS ?? 20_000);

/** When this container last started a cycle: a burst of watcher events needs only one (triggers/coalesce.ts). */
let lastCycleStartMs: number | undefined;

export interface HandlerResult {
  ok: boolean;
  /** Why no cycle ran (a watcher event an earlier cycle already covered). */
  skipped?: string;
  /** A console maintenance request: the window stored, or the windows in force. */
  maintenance?: unknown;
  report?: CycleReport;
  error?: Record<string, unknown>;
  /** Console failover/switchover/recover: the request id (given or derived). */
  requestId?: string;
  /** True when this answer is the first call's, returned again for a repeat (nothing was run). */
  repeated?: boolean;
}

/** How long a manual action's answer is returned again for a repeat of the same request. */
const REQUEST_WINDOW_MS = Number(process.env.IDEMPOTENCY_WINDOW_SECONDS ?? 3600) * 1000;

interface OpenRequest {
  store: ObjectStore;
  key: string;
  record: RequestRecord;
}

/**
 * A manual action's request (triggers/idempotency.ts): answers a repeat from the first call's record,
 * or records that this call runs. Null when the invocation needs no idempotency.
 */
async function openRequest(
  cfg: Config,
  invocation: Invocation,
  group: string | undefined,
  signal: AbortSignal,
): Promise<{ answer: HandlerResult } | { open: OpenRequest } | null> {
  const id = requestIdOf(invocation, group);
  if (!id) return null;
  if (!cfg.objectStore) {
    logger.warn('no objectStore: a repeated manual action cannot be recognised', { requestId: id.id });
    return null;
  }
  const { getJson, openConfiguredStore, putJson } = await import('./operations/store.js');
  const store = openConfiguredStore(cfg, { signal });
  const key = requestKey(cfg.clusterName, group, id.id);
  const decision = decideRepeat(await getJson<RequestRecord>(store, key), new Date());
  if (!decision.run && 'repeat' in decision) {
    logger.info('repeated request: the first answer is returned, nothing runs', { requestId: id.id });
    return { answer: { ...(decision.repeat.result as HandlerResult), requestId: id.id, repeated: true } };
  }
  if (!decision.run) {
    return {
      answer: {
        ok: false,
        requestId: id.id,
        error: {
          code: 'RequestInProgress',
          message: `request ${id.id} is still running (started ${decision.inProgress.startedAt}); ask again once it has finished to get its answer`,
        },
      },
    };
  }
  const record = startRecord(id, new Date(), REQUEST_WINDOW_MS);
  await putJson(store, key, record);
  return { open: { store, key, record } };
}

async function closeRequest(open: OpenRequest, result: HandlerResult): Promise<void> {
  const { putJson } = await import('./operations/store.js');
  try {
    await putJson(open.store, open.key, { ...open.record, status: 'done', result });
  } catch (error) {
    logger.error('request record not written: a repeat would run again', { error: errorMessage(error) });
  }
}

/** MySQL's "access denied" (ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR): a rotated password. */
const AUTH_ERRNOS = new Set([1045, 1044]);

function authenticationFailed(report: CycleReport): boolean {
  const snapshot = report.snapshot as { servers?: Array<{ error?: { errno?: number | null } | null }> };
  return (snapshot?.servers ?? []).some((s) => AUTH_ERRNOS.has(s.error?.errno ?? 0));
}

function cycleFailed(report: CycleReport): boolean {
  return report.error !== undefined || report.operation?.error !== undefined;
}

/** Schedule, alarm and continuation runs have no caller reading the answer: a failure must throw. */
function failureThrows(invocation: Invocation): boolean {
  return invocation.trigger !== 'console';
}

/** FailedCycle = 1 for a failed run; nothing for a good one (a series is billed only in the hours it has data). */
function recordFailedCycle(
  cluster: string | undefined,
  group: string | undefined,
  failed: boolean,
  dimensionsAdded = false,
): void {
  if (!failed) return;
  if (!dimensionsAdded)
    addMetricDimensions(metrics, cluster ?? process.env.CLUSTER_NAME ?? 'unknown', group ?? 'all');
  metrics.addMetric('FailedCycle', MetricUnit.Count, 1);
}

async function watchdog(
  event: unknown,
  context: Context,
  { signal }: { signal: AbortSignal } = { signal: new AbortController().signal },
): Promise<HandlerResult> {
  let invocation: ReturnType<typeof parseEvent>;
  try {
    const maintenance = parseMaintenanceEvent(event);
    if (maintenance)
      return await runMaintenanceCommand((await configs.get()).config, maintenance, Date.now());
    invocation = parseEvent(event);
  } catch (error) {
    // A malformed event is the caller's mistake: answer with what is wrong and what is allowed.
    if (error instanceof WatchdogError) {
      logger.warn('rejected event', { error: error.message });
      return { ok: false, error: error.toJSON() };
    }
    throw error;
  }
  if (invocation.watcher && coveredByEarlierCycle(invocation.watcher.receivedAtMs, lastCycleStartMs)) {
    const skipped = `covered by the cycle started at ${new Date(lastCycleStartMs ?? 0).toISOString()}`;
    logger.info('watcher event coalesced', { watcher: invocation.watcher, skipped });
    return { ok: true, skipped };
  }
  lastCycleStartMs = Date.now();
  const group = invocation.group ?? process.env.GROUP;
  runSignal = signal;
  let cfg: Config;
  let fresh: boolean;
  try {
    ({ config: cfg, fresh } = await configs.get());
  } catch (error) {
    if (!(error instanceof WatchdogError)) throw error;
    logger.error('cycle failed', { error: error.toJSON() });
    recordFailedCycle(undefined, group, true);
    if (failureThrows(invocation)) {
      throw new CycleFailedError(`${invocation.trigger} run failed: ${error.message}`, { cause: error });
    }
    return { ok: false, error: error.toJSON() };
  }
  try {
    checkOwnGroup(
      invocation,
      process.env.GROUP,
      cfg.groups.map((g) => g.name),
    );
  } catch (error) {
    if (!(error instanceof WatchdogError)) throw error;
    logger.warn('rejected event', { error: error.message });
    return { ok: false, error: error.toJSON() };
  }
  let request: OpenRequest | undefined;
  try {
    const opened = await openRequest(cfg, invocation, group, signal);
    if (opened && 'answer' in opened) return opened.answer;
    request = opened?.open;
  } catch (error) {
    // Unknown whether this request already ran: changing nothing is the safe answer.
    logger.error('request record unreadable', { error: errorMessage(error) });
    return {
      ok: false,
      error: { code: 'StorageError', message: `cannot read the request record: ${errorMessage(error)}` },
    };
  }
  // Our own stop comes before middy's early timeout, so a reseed hands its lease back, the audit
  // is written and the continuation is sent while the function still runs.
  const own = new AbortController();
  const remaining = context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
  const timer = Number.isFinite(remaining)
    ? setTimeout(
        () => own.abort(new Error('deadline')),
        Math.max(0, remaining - DEADLINE_MARGIN_MS - WRAP_UP_MS),
      )
    : undefined;
  const runSignalAll = AbortSignal.any([signal, own.signal]);
  const cycle = async (c: Config): Promise<CycleReport> =>
    runCycle(
      c,
      { ...invocation, group },
      {
        logger,
        signal: runSignalAll,
        routers: (resolved) => routersFor(resolved, runSignalAll),
        findTagged: await tagFinder(c),
        hostCommands: await hostCommandsFor(c),
      },
    );
  let report: CycleReport;
  try {
    report = await cycle(cfg);
    if (!fresh && !report.operation && authenticationFailed(report)) {
      // A password rotated since the configuration was read: read it (and the secrets) again, once.
      logger.warn('authentication failed: reading the configuration and secrets again');
      configs.invalidate();
      const again = await configs.get().catch((error: unknown) => {
        logger.error('configuration not read again', { error: errorMessage(error) });
        return null;
      });
      if (again) {
        cfg = again.config;
        report = await cycle(cfg);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const failed = cycleFailed(report);
  recordCycleMetrics(metrics, cfg, report);
  recordFailedCycle(cfg.clusterName, report.group ?? undefined, failed, true);
  recordOperationMetrics(metrics, report);
  logger.info('cycle finished', { report });
  await afterCycle(cfg, report, context, signal);
  if (request) {
    const answer: HandlerResult = { ok: !failed, report, requestId: request.record.requestId };
    await closeRequest(request, answer);
    return answer;
  }
  if (failed && failureThrows(invocation)) {
    const cause = report.operation?.error ?? report.error;
    throw new CycleFailedError(
      `${invocation.trigger} run of group ${report.group ?? 'all'} failed: ${String(cause?.message ?? 'operation failed')}`,
      { details: { analysis: report.analysis?.code ?? null, error: cause ?? null } },
    );
  }
  return { ok: !failed, report };
}

async function publish(subject: string, message: string, signal: AbortSignal): Promise<void> {
  const topic = process.env.SNS_TOPIC_ARN;
  if (!topic) return;
  const { PublishCommand, SNSClient } = await import('./aws/sns.js');
  sns ??= new SNSClient(awsClientOptions());
  await sns.send(new PublishCommand({ TopicArn: topic, Subject: subject, Message: message }), {
    abortSignal: signal,
  });
}

/**
 * A critical alert goes out when the group's alert state changes and then as a reminder
 * (operations/alerts.ts); the state is kept in the object store. Without one, every alert is sent.
 */
async function sendAlert(cfg: Config, report: CycleReport, signal: AbortSignal): Promise<void> {
  const summary = alertSummary(report);
  if (report.error !== undefined || report.analysis === undefined) return;
  if (!cfg.objectStore) {
    if (summary) await publish(summary.subject, summary.message, signal);
    return;
  }
  const { openConfiguredStore } = await import('./operations/store.js');
  const store = openConfiguredStore(cfg, { signal });
  const key = alertKey(cfg.clusterName, report.group);
  const previous = await readAlertState(store, key);
  const decision = decideAlert(
    previous,
    summary ? report.analysis.code : null,
    new Date(),
    ALERT_REMINDER_MS,
  );
  if (decision.send === null) return;
  if (decision.send === 'resolved') {
    await publish(
      `[mysql-failover] RESOLVED ${report.cluster}/${report.group ?? 'all'}: ${decision.previous}`.slice(
        0,
        100,
      ),
      `cluster ${report.cluster}, group ${report.group ?? 'all'}: ${decision.previous} no longer holds; analysis now ${report.analysis.code}`,
      signal,
    );
  } else if (summary) {
    const subject =
      decision.send === 'reminder' ? summary.subject.replace('ALERT', 'STILL') : summary.subject;
    const since = decision.send === 'reminder' ? [`still holds since ${decision.state.since}`, ''] : [];
    await publish(subject.slice(0, 100), [...since, summary.message].join('\n'), signal);
  }
  await writeAlertState(store, key, decision.state);
}

/** SNS summary or alert; the continuation of an operation stopped at the deadline. Never throws. */
async function afterCycle(
  cfg: Config,
  report: CycleReport,
  context: Context,
  signal: AbortSignal,
): Promise<void> {
  try {
    const summary = operationSummary(report);
    if (summary) await publish(summary.subject, summary.message, signal);
    else await sendAlert(cfg, report, signal);
  } catch (error) {
    logger.error('SNS summary not sent', { error: errorMessage(error) });
  }
  const next = continuationEvent(report);
  if (next && context?.functionName) {
    try {
      const { InvokeCommand, LambdaClient } = await import('./aws/lambda.js');
      lambda ??= new LambdaClient(awsClientOptions());
      await lambda.send(
        new InvokeCommand({
          FunctionName: context.functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(next)),
        }),
        { abortSignal: signal },
      );
      logger.info('continuation sent', { resume: next.resume });
    } catch (error) {
      // The next scheduled run resumes it anyway (the lease was handed back, the checkpoint stays).
      logger.error('continuation not sent', { error: errorMessage(error) });
    }
  }
}

export const handler = middy(watchdog, {
  timeoutEarlyInMillis: DEADLINE_MARGIN_MS,
  timeoutEarlyResponse: () => ({ ok: false, error: { code: 'DeadlineError', message: 'deadline reached' } }),
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  // No ColdStart metric: a series per function in every hour; Lambda's REPORT line has the Init Duration.
  .use(logMetrics(metrics));

/** For tests: forget the cached configuration and clients. */
export function resetForTests(): void {
  configs.invalidate();
  ssm = secrets = sns = lambda = undefined;
  ec2 = undefined;
  lastCycleStartMs = undefined;
}
