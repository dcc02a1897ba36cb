/**
 * CloudWatch metrics of one cycle (Powertools EMF: written to the log, no API call). Namespace from
 * METRICS_NAMESPACE (default MysqlFailover); two dimension sets, {service, cluster, group} and
 * {service, cluster} (the cluster-wide series, so that one alarm covers every group). CloudWatch bills
 * each series (metric name + dimension set) in every hour it receives data (bench/detect-cost.ts), so
 * only ClusterState is published by every run; the rest only when there is something to count.
 *   ClusterState        0 = Ok, 1 = degraded (alert only), 2 = needs an operation
 *   Operations          1 per operation run (counted by the operations layer)
 *   OperationDurationMs duration of an operation
 *   ReseedBytes, ReseedBytesPerSecond, ReseedEtaSeconds  the last progress of a physical reseed this
 *                       run followed (its stage as metadata)
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Config } from '../config/schema.js';
import type { CycleReport } from './cycle.js';

export function clusterStateValue(report: CycleReport): number {
  if (report.error !== undefined || report.analysis === undefined) return 2;
  if (report.analysis.code === 'Ok') return 0;
  return report.plan?.kind === 'operation' ? 2 : 1;
}

/**
 * The two dimension sets of every metric of a run (see above): `cluster` as a default dimension (next
 * to Powertools' `service`; one cluster per function), a set with `group`, and an empty set, which is
 * the defaults alone.
 */
export function addMetricDimensions(metrics: Metrics, cluster: string, group: string): void {
  metrics.setDefaultDimensions({ cluster });
  metrics.addDimensions({ group });
  metrics.addDimensions({});
}

export function recordCycleMetrics(metrics: Metrics, config: Config, report: CycleReport): void {
  addMetricDimensions(metrics, config.clusterName, report.group ?? 'all');
  metrics.addMetric('ClusterState', MetricUnit.Count, clusterStateValue(report));
  // The check's duration is in the report (`cycle finished`, report.timings.totalMs): the dashboard
  // reads it with a Logs Insights query instead of paying for a series per group.
  if (report.analysis) metrics.addMetadata('analysis', report.analysis.code);
  const p = report.operation?.reseedProgress;
  if (p) {
    metrics.addMetric('ReseedBytes', MetricUnit.Bytes, p.bytes);
    metrics.addMetric('ReseedBytesPerSecond', MetricUnit.BytesPerSecond, p.rateBytesPerSecond);
    if (p.etaSeconds !== null) metrics.addMetric('ReseedEtaSeconds', MetricUnit.Seconds, p.etaSeconds);
    metrics.addMetadata('reseedStage', `${p.method} ${p.stage} ${p.server}`);
  }
}
