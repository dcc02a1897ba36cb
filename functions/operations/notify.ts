/**
 * What leaves the function besides its report: the SNS summary of an operation, the continuation event
 * a run that hit its deadline sends to itself, and the operation metrics. The texts are pure functions
 * of the report (unit-tested); the senders take small client ports.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CycleReport } from './cycle.js';

/** An SNS summary of an operation run; null when the run executed nothing. */
export function operationSummary(report: CycleReport): { subject: string; message: string } | null {
  const op = report.operation;
  if (!op) return null;
  const what = op.operation ?? 'operation';
  const subject =
    `[mysql-failover] ${report.cluster}/${report.group ?? 'all'}: ${what} ${op.outcome} (${op.role})`.slice(
      0,
      100,
    );
  const lines = [
    `cluster ${report.cluster}, group ${report.group ?? 'all'}, trigger ${report.trigger}`,
    `analysis ${report.analysis?.code ?? '?'}: ${report.analysis?.description ?? ''}`,
    `plan: ${report.plan?.reason ?? ''}`,
    `role ${op.role}, outcome ${op.outcome}, epoch ${op.epoch ?? '-'}, master ${op.master ?? '-'}, new primary ${op.target ?? '-'}`,
    ...(op.error ? [`error: ${String(op.error.message ?? '')}`] : []),
    '',
    'steps:',
    ...op.steps.map((s) =>
      `  ${s.kind} ${s.target ?? ''} ${s.outcome} ${(s.durationMs / 1000).toFixed(2)}s ${s.detail}`.slice(
        0,
        400,
      ),
    ),
    ...(op.salvage.length
      ? [
          '',
          'salvage (transactions the new primary lacks):',
          ...op.salvage.map((s) => `  ${s.server}: ${s.count} transaction(s) ${s.difference} -> ${s.url}`),
        ]
      : []),
    ...(op.warnings.length ? ['', ...op.warnings.map((w) => `warning: ${w}`)] : []),
    ...(op.auditUrl ? ['', `audit record: ${op.auditUrl}`] : []),
    ...(op.continuationNeeded ? ['', 'stopped at the deadline: a continuation invocation resumes it'] : []),
  ];
  return { subject, message: lines.join('\n') };
}

/**
 * A loud alert for a critical situation the watchdog will not act on by itself (a split brain under the
 * alert-only policy, an operation held back by anti-flap, no server or router answering): null otherwise.
 */
export function alertSummary(report: CycleReport): { subject: string; message: string } | null {
  const plan = report.plan;
  if (report.operation || !plan || plan.kind !== 'alert-only' || plan.severity !== 'critical') return null;
  const subject = `[mysql-failover] ALERT ${report.cluster}/${report.group ?? 'all'}: ${plan.code}`.slice(
    0,
    100,
  );
  const lines = [
    `cluster ${report.cluster}, group ${report.group ?? 'all'}, trigger ${report.trigger}`,
    `analysis ${plan.code}: ${report.analysis?.description ?? ''}`,
    `why only an alert: ${plan.reason}`,
    ...(plan.suppressed
      ? [
          `held back: ${plan.suppressed.operation} (${plan.suppressed.because}); a console event with "force": true and a "target" runs it`,
        ]
      : []),
    '',
    'evidence:',
    ...(report.analysis?.evidence ?? []).map((e) => `  - ${e}`),
  ];
  return { subject, message: lines.join('\n') };
}

/** The event a run sends to its own function when it stopped at the deadline (functions/triggers/events.ts). */
export function continuationEvent(report: CycleReport): Record<string, unknown> | null {
  const op = report.operation;
  if (!op?.continuationNeeded) return null;
  return {
    source: 'mysql-failover.continuation',
    ...(report.group ? { group: report.group } : {}),
    resume: {
      operation: op.operation,
      openedEpoch: op.openedEpoch,
      epoch: op.epoch,
      participant: op.participant,
      stoppedAt: new Date().toISOString(),
    },
  };
}

export function recordOperationMetrics(metrics: Metrics, report: CycleReport): void {
  const op = report.operation;
  if (!op) return;
  metrics.addMetric('Operations', MetricUnit.Count, 1);
  metrics.addMetric('OperationDurationMs', MetricUnit.Milliseconds, op.durationMs);
  const failed = op.steps.filter((s) => s.outcome === 'failed').length;
  metrics.addMetric('OperationStepsFailed', MetricUnit.Count, failed);
  metrics.addMetadata('operation', `${op.operation ?? '?'} ${op.role} ${op.outcome}`);
}
