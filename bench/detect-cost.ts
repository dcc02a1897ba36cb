/**
 * The monthly cost arithmetic of docs/deployment.md ("What detection costs"), for one cluster with 3
 * groups and 2 backends per group, eu-west-1 list prices, no free tier. bench:detect prints it, and
 * test/unit/deploy/cost-model.test.ts checks MONITORING against the packaged template's alarms and the
 * function's embedded-metric lines, so the table, the benchmark and the stack cannot drift apart.
 *
 * CloudWatch (aws.amazon.com/cloudwatch/pricing): a custom metric is one name + dimension set, USD 0.30
 * a month, prorated by the hour and metered only in hours it receives data; a standard-resolution alarm
 * USD 0.10 a month per metric it reads (an alarm on a metric-math expression pays for each metric in
 * it, so combining per-group metrics in one alarm saves nothing; one series without the `group`
 * dimension does); a dashboard USD 3.00 a month beyond the account's three free ones.
 */
export const PRICES = {
  /** Lambda arm64, per GB-second and per request. */
  lambdaGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1_000_000,
  /** EventBridge custom events (PutEvents), per event; rules, buses and scheduled rules cost nothing. */
  customEvent: 1 / 1_000_000,
  /** CloudWatch Logs ingestion per GB; storage per GB-month. */
  logsIngestGb: 0.57,
  logsStoreGbMonth: 0.03,
  /** A custom metric series published in every hour of the month. */
  metricMonth: 0.3,
  /** A standard-resolution alarm, per metric it reads. */
  alarmMetricMonth: 0.1,
  dashboardMonth: 3,
};

export const CLUSTER = {
  groups: 3,
  backendsPerGroup: 2,
  memoryGb: 1769 / 1024,
  /** Billed time of one scheduled check, init included (docs/deployment.md, Sizing). */
  checkSeconds: 1,
  /** Bytes one run logs (START/END/REPORT, the report, the EMF metrics line). */
  logBytesPerRun: 6_000,
  /** Retention 90 days: about three months of logs stored at any time. */
  retainedMonths: 3,
  /** Primary deaths a month the push-mode figure assumes (the cost while idle is zero). */
  incidentsPerMonth: 10,
};

/**
 * The stack's monitoring (infra/deployment/monitoring.cjs, functions/operations/metrics.ts), for
 * `groups` groups. Every alarm reads one metric.
 */
export const MONITORING = {
  /** Series every run publishes: ClusterState per group, and once without `group` (cluster-wide). */
  seriesAlways: (groups: number): number => groups + 1,
  /** Per group: -errors and -async-events-dropped (AWS/Lambda, per function), -silent (its ClusterState). */
  alarmsPerGroup: 3,
  /** Cluster-wide: -cluster-state, -cluster-degraded, -failed-cycle, -failed-steps. */
  clusterAlarms: 4,
  alarms: (groups: number): number => groups * 3 + 4,
  /**
   * Series an operation publishes in its hour, in the master's group: Operations, OperationDurationMs,
   * OperationStepsFailed, each with both dimension sets.
   */
  seriesPerOperation: 3 * 2,
};

const HOURS = 720;
const round = (usd: number, digits = 2): number => Math.round(usd * 10 ** digits) / 10 ** digits;

export interface BaseCost {
  lambdaUsd: number;
  logsUsd: number;
  metricsUsd: number;
  alarmsUsd: number;
  totalUsd: number;
}

/** What every mode pays while nothing happens: the 10-minute schedule of each group, its logs, its metrics, its alarms. */
export function baseCost(groups = CLUSTER.groups): BaseCost {
  const runs = groups * (HOURS * 6);
  const lambdaUsd =
    runs * (PRICES.lambdaRequest + CLUSTER.checkSeconds * CLUSTER.memoryGb * PRICES.lambdaGbSecond);
  const logGb = (runs * CLUSTER.logBytesPerRun) / 1e9;
  const logsUsd = logGb * PRICES.logsIngestGb + logGb * CLUSTER.retainedMonths * PRICES.logsStoreGbMonth;
  const metricsUsd = MONITORING.seriesAlways(groups) * PRICES.metricMonth;
  const alarmsUsd = MONITORING.alarms(groups) * PRICES.alarmMetricMonth;
  return {
    lambdaUsd,
    logsUsd,
    metricsUsd,
    alarmsUsd,
    totalUsd: lambdaUsd + logsUsd + metricsUsd + alarmsUsd,
  };
}

export function baseMonthlyUsd(): number {
  return baseCost().totalUsd;
}

/**
 * Push from the routers, on top of the base: nothing while healthy (the watchers send nothing, SSM
 * State Manager and Run Command cost nothing on EC2). Per incident every backend sends its event plus
 * one repeat, each starts an invocation: at most two full cycles per group (the second when the burst
 * and the first cycle fall within the same second of EventBridge's stamp), the others answered as
 * covered; the operation's metric series for the hour it runs (any mode pays those for an incident).
 */
export function pushMonthlyUsd(): number {
  const backends = CLUSTER.groups * CLUSTER.backendsPerGroup;
  const events = CLUSTER.incidentsPerMonth * backends * 2;
  const cycles = CLUSTER.incidentsPerMonth * CLUSTER.groups * 2;
  const coalesced = events - cycles;
  const gbSeconds = cycles * CLUSTER.checkSeconds * CLUSTER.memoryGb + coalesced * 0.01 * CLUSTER.memoryGb;
  const logGb = ((cycles + coalesced) * CLUSTER.logBytesPerRun) / 1e9;
  const operationSeriesHours = CLUSTER.incidentsPerMonth * MONITORING.seriesPerOperation;
  return (
    events * PRICES.customEvent +
    events * PRICES.lambdaRequest +
    gbSeconds * PRICES.lambdaGbSecond +
    logGb * (PRICES.logsIngestGb + CLUSTER.retainedMonths * PRICES.logsStoreGbMonth) +
    (operationSeriesHours * PRICES.metricMonth) / HOURS
  );
}

/**
 * The watch mode we did not build, for comparison: a 1-minute schedule per group whose run polls for
 * 55 s (at 1769 MB; at 128 MB it would still be 55 s x 0.125 GB), one metric per run.
 */
export function watchMonthlyUsd(memoryGb = CLUSTER.memoryGb): number {
  const runs = CLUSTER.groups * HOURS * 60;
  return runs * (PRICES.lambdaRequest + 55 * memoryGb * PRICES.lambdaGbSecond);
}

export function costSummary(): {
  baseUsd: number;
  pushUsd: number;
  /** The documented cluster with push detection, the dashboard off or one of the account's free three. */
  totalPushUsd: number;
  dashboardUsd: number;
  watchUsd: number;
  watch128Usd: number;
} {
  return {
    baseUsd: round(baseMonthlyUsd()),
    pushUsd: round(pushMonthlyUsd(), 4),
    totalPushUsd: round(baseMonthlyUsd() + pushMonthlyUsd()),
    dashboardUsd: PRICES.dashboardMonth,
    watchUsd: round(watchMonthlyUsd()),
    watch128Usd: round(watchMonthlyUsd(0.125)),
  };
}
