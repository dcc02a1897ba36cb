/**
 * The Lambda handler: one function per backend group, started by the EventBridge schedule, by a
 * CloudWatch alarm (EventBridge or SNS) or by a manual invoke from the console. It stays thin: parse the
 * event, load the configuration once per container, run one cycle, return its report.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/sources.js';
import { WatchdogError } from './errors.js';
import { type CycleReport, runCycle } from './operations/cycle.js';
import { recordCycleMetrics } from './operations/metrics.js';
import { parseEvent } from './triggers/events.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'mysql-failover';
const logger = new Logger({ serviceName });
const metrics = new Metrics({ namespace: process.env.METRICS_NAMESPACE ?? 'MysqlFailover', serviceName });

// SDK clients and the validated configuration are built once per container and reused while warm.
let ssm: SSMClient | undefined;
let secrets: SecretsManagerClient | undefined;
let configPromise: Promise<Config> | undefined;

function config(): Promise<Config> {
  configPromise ??= loadConfig({
    env: process.env,
    ssm: () => {
      ssm ??= new SSMClient({});
      return ssm;
    },
    secrets: () => {
      secrets ??= new SecretsManagerClient({});
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

export interface HandlerResult {
  ok: boolean;
  report?: CycleReport;
  error?: Record<string, unknown>;
}

async function watchdog(
  event: unknown,
  _context: Context,
  { signal }: { signal: AbortSignal } = { signal: new AbortController().signal },
): Promise<HandlerResult> {
  let invocation: ReturnType<typeof parseEvent>;
  try {
    invocation = parseEvent(event);
  } catch (error) {
    // A malformed event is the caller's mistake: answer with what is wrong and what is allowed.
    if (error instanceof WatchdogError) {
      logger.warn('rejected event', { error: error.message });
      return { ok: false, error: error.toJSON() };
    }
    throw error;
  }
  try {
    const cfg = await config();
    const group = invocation.group ?? process.env.GROUP;
    const report = await runCycle(cfg, { ...invocation, group }, { logger, signal });
    recordCycleMetrics(metrics, cfg, report);
    logger.info('cycle finished', { report });
    return { ok: report.error === undefined, report };
  } catch (error) {
    if (error instanceof WatchdogError) {
      logger.error('cycle failed', { error: error.toJSON() });
      return { ok: false, error: error.toJSON() };
    }
    throw error;
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
}
