/**
 * The monthly cost arithmetic of docs/deployment.md ("What detection costs"), for one cluster with 3
 * groups and 2 backends per group, eu-west-1 list prices, no free tier. bench:detect prints the push
 * mode's figure from here, so the table and the benchmark cannot drift apart.
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
  /** A custom metric (one name + dimension set) published in every hour of the month. */
  metricMonth: 0.3,
  alarmMonth: 0.1,
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
  /** Metric series always published: ClusterState and CheckDurationMs per group, ColdStart per function. */
  metricSeries: 3 * 3,
  /** Alarms of the stack: errors, cluster state, cluster degraded, per group. */
  alarms: 3 * 3,
  /** Primary deaths a month the push-mode figure assumes (the cost while idle is zero). */
  incidentsPerMonth: 10,
};

const HOURS = 720;
const round = (usd: number): number => Math.round(usd * 100) / 100;

/** What every mode pays: the 10-minute schedule of each group, its logs, its metrics, its alarms. */
export function baseMonthlyUsd(): number {
  const runs = CLUSTER.groups * (HOURS * 6);
  const lambda =
    runs * (PRICES.lambdaRequest + CLUSTER.checkSeconds * CLUSTER.memoryGb * PRICES.lambdaGbSecond);
  const logGb = (runs * CLUSTER.logBytesPerRun) / 1e9;
  const logs = logGb * PRICES.logsIngestGb + logGb * CLUSTER.retainedMonths * PRICES.logsStoreGbMonth;
  return lambda + logs + CLUSTER.metricSeries * PRICES.metricMonth + CLUSTER.alarms * PRICES.alarmMonth;
}

/**
 * Push from the routers, on top of the base: nothing while healthy (the watchers send nothing, SSM
 * State Manager and Run Command cost nothing on EC2). Per incident every backend sends its event plus
 * one repeat, each starts an invocation: at most two full cycles per group (the second when the burst
 * and the first cycle fall within the same second of EventBridge's stamp), the others answered as covered.
 */
export function pushMonthlyUsd(): number {
  const backends = CLUSTER.groups * CLUSTER.backendsPerGroup;
  const events = CLUSTER.incidentsPerMonth * backends * 2;
  const cycles = CLUSTER.incidentsPerMonth * CLUSTER.groups * 2;
  const coalesced = events - cycles;
  const gbSeconds = cycles * CLUSTER.checkSeconds * CLUSTER.memoryGb + coalesced * 0.01 * CLUSTER.memoryGb;
  const logGb = ((cycles + coalesced) * CLUSTER.logBytesPerRun) / 1e9;
  return (
    events * PRICES.customEvent +
    events * PRICES.lambdaRequest +
    gbSeconds * PRICES.lambdaGbSecond +
    logGb * (PRICES.logsIngestGb + CLUSTER.retainedMonths * PRICES.logsStoreGbMonth)
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

export function costSummary(): { baseUsd: number; pushUsd: number; watchUsd: number; watch128Usd: number } {
  return {
    baseUsd: round(baseMonthlyUsd()),
    pushUsd: round(pushMonthlyUsd()),
    watchUsd: round(watchMonthlyUsd()),
    watch128Usd: round(watchMonthlyUsd(0.125)),
  };
}
