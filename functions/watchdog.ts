/**
 * The Lambda handler: one function per backend group, started by the EventBridge schedule, by a
 * CloudWatch alarm (EventBridge or SNS), by a manual invoke from the console, or by itself to continue
 * an operation that reached the deadline. It stays thin: parse the event, load the configuration once
 * per container, run one cycle, then send what the report asks for (SNS summary, continuation).
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SSMClient } from '@aws-sdk/client-ssm';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/sources.js';
import { errorMessage, WatchdogError } from './errors.js';
import { type CycleReport, runCycle } from './operations/cycle.js';
import { runMaintenanceCommand } from './operations/maintenance-command.js';
import { recordCycleMetrics } from './operations/metrics.js';
import {
  alertSummary,
  continuationEvent,
  operationSummary,
  recordOperationMetrics,
} from './operations/notify.js';
import type { HostCommands } from './operations/physical/commands.js';
import { localRouterSwitchFromConfig } from './routers/cli.js';
import type { RouterSwitch } from './routers/types.js';
import { coveredByEarlierCycle } from './triggers/coalesce.js';
import { parseEvent, parseMaintenanceEvent } from './triggers/events.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'mysql-failover';
const logger = new Logger({ serviceName });
const metrics = new Metrics({ namespace: process.env.METRICS_NAMESPACE ?? 'MysqlFailover', serviceName });

// SDK clients and the validated configuration are built once per container and reused while warm.
// Each SDK client module is imported on first use, so a check that needs none of them (the common
// case) does not compile them at cold start (bench/check.ts measures it).
let ssm: SSMClient | undefined;
let secrets: SecretsManagerClient | undefined;
let sns: SNSClient | undefined;
let lambda: LambdaClient | undefined;
let configPromise: Promise<Config> | undefined;
let routerSwitch: { config: Config; routers: RouterSwitch } | undefined;

/**
 * Routers reached through SSM Run Command when the group names its backends (EC2 tag or instance
 * ids) and the stack's document is known; otherwise the router script runs on this host.
 */
async function ssmClient(): Promise<SSMClient> {
  if (!ssm) {
    const { SSMClient } = await import('./aws/ssm.js');
    ssm ??= new SSMClient({});
  }
  return ssm;
}

async function routersFor(cfg: Config): Promise<RouterSwitch> {
  if (routerSwitch?.config === cfg) return routerSwitch.routers;
  const remote = cfg.groups.some((g) => g.ec2Tag !== undefined || g.routers.some((r) => r.instanceId));
  const documentName = process.env.ROUTER_DOCUMENT;
  let routers: RouterSwitch;
  if (remote && documentName) {
    const { ssmRouterSwitchFromConfig } = await import('./routers/ssm-from-config.js');
    routers = ssmRouterSwitchFromConfig(cfg, await ssmClient(), { documentName });
  } else {
    routers = localRouterSwitchFromConfig(cfg);
  }
  routerSwitch = { config: cfg, routers };
  return routers;
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

function config(): Promise<Config> {
  configPromise ??= loadConfig({
    env: process.env,
    ssm: ssmClient,
    secrets: async () => {
      if (!secrets) {
        const { SecretsManagerClient } = await import('./aws/secrets.js');
        secrets ??= new SecretsManagerClient({});
      }
      return secrets;
    },
  }).catch((error: unknown) => {
    configPromise = undefined; // a bad config must not poison the container: read it again next time
    throw error;
  });
  return configPromise;
}

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
}

async function watchdog(
  event: unknown,
  context: Context,
  { signal }: { signal: AbortSignal } = { signal: new AbortController().signal },
): Promise<HandlerResult> {
  let invocation: ReturnType<typeof parseEvent>;
  try {
    const maintenance = parseMaintenanceEvent(event);
    if (maintenance) return await runMaintenanceCommand(await config(), maintenance, Date.now());
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
  try {
    const cfg = await config();
    const group = invocation.group ?? process.env.GROUP;
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
    let report: CycleReport;
    try {
      report = await runCycle(
        cfg,
        { ...invocation, group },
        {
          logger,
          signal: AbortSignal.any([signal, own.signal]),
          routers: await routersFor(cfg),
          hostCommands: await hostCommandsFor(cfg),
        },
      );
    } finally {
      clearTimeout(timer);
    }
    recordCycleMetrics(metrics, cfg, report);
    recordOperationMetrics(metrics, report);
    logger.info('cycle finished', { report });
    await afterCycle(report, context);
    return { ok: report.error === undefined && report.operation?.error === undefined, report };
  } catch (error) {
    if (error instanceof WatchdogError) {
      logger.error('cycle failed', { error: error.toJSON() });
      return { ok: false, error: error.toJSON() };
    }
    throw error;
  }
}

/** SNS summary of an operation; the continuation of one stopped at the deadline. Never throws. */
async function afterCycle(report: CycleReport, context: Context): Promise<void> {
  const topic = process.env.SNS_TOPIC_ARN;
  const summary = operationSummary(report) ?? alertSummary(report);
  if (topic && summary) {
    try {
      const { PublishCommand, SNSClient } = await import('./aws/sns.js');
      sns ??= new SNSClient({});
      await sns.send(
        new PublishCommand({ TopicArn: topic, Subject: summary.subject, Message: summary.message }),
      );
    } catch (error) {
      logger.error('SNS summary not sent', { error: errorMessage(error) });
    }
  }
  const next = continuationEvent(report);
  if (next && context?.functionName) {
    try {
      const { InvokeCommand, LambdaClient } = await import('./aws/lambda.js');
      lambda ??= new LambdaClient({});
      await lambda.send(
        new InvokeCommand({
          FunctionName: context.functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(next)),
        }),
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
  .use(logMetrics(metrics, { captureColdStartMetric: true }));

/** For tests: forget the cached configuration. */
export function resetForTests(): void {
  configPromise = undefined;
  lastCycleStartMs = undefined;
  routerSwitch = undefined;
}
