/**
 * CloudWatch metrics of one cycle (Powertools EMF: written to the log, no API call, no cost while idle).
 * Namespace from METRICS_NAMESPACE (default MysqlFailover); dimensions cluster and group.
 *   ClusterState        0 = Ok, 1 = degraded (alert only), 2 = needs an operation
 *   CheckDurationMs     observe + analyze + plan
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

export function recordCycleMetrics(metrics: Metrics, config: Config, report: CycleReport): void {
  metrics.addDimensions({ cluster: config.clusterName, group: report.group ?? 'all' });
  metrics.addMetric('ClusterState', MetricUnit.Count, clusterStateValue(report));
  metrics.addMetric('CheckDurationMs', MetricUnit.Milliseconds, report.timings.totalMs);
  if (report.analysis) metrics.addMetadata('analysis', report.analysis.code);
  const p = report.operation?.reseedProgress;
  if (p) {
    metrics.addMetric('ReseedBytes', MetricUnit.Bytes, p.bytes);
    metrics.addMetric('ReseedBytesPerSecond', MetricUnit.BytesPerSecond, p.rateBytesPerSecond);
    if (p.etaSeconds !== null) metrics.addMetric('ReseedEtaSeconds', MetricUnit.Seconds, p.etaSeconds);
    metrics.addMetadata('reseedStage', `${p.method} ${p.stage} ${p.server}`);
  }
}
