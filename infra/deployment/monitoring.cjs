'use strict';
/**
 * Alarms and the dashboard. The watchdog writes its metrics as CloudWatch embedded metric format
 * (Powertools Metrics) into its own log group: namespace `function.metricsNamespace`, dimensions
 * `service` (added by Powertools, = POWERTOOLS_SERVICE_NAME), `cluster` and `group`. An alarm only
 * matches a metric with exactly the same dimension set, so the three are always named together.
 *
 *   ClusterState         0 = Ok, 1 = degraded (alert only), 2 = needs action
 *   FailedCycle          1 for a run whose cycle failed (config unreadable, a step failed, ...), else 0
 *   OperationStepsFailed failed steps of an operation
 *   Operations           count of operations run (failover, recover, switchover, ...)
 *   OperationDurationMs  duration of each operation
 *   CheckDurationMs      duration of each observation + analysis
 */

/** One schedule interval: every period holds one scheduled run's data point, unless it was late. */
function periodOf(d) {
  return d.function.scheduleRateMinutes * 60;
}

function dimensions(d, group) {
  return [
    { Name: 'service', Value: d.powertoolsServiceName },
    { Name: 'cluster', Value: d.cluster },
    { Name: 'group', Value: group.name },
  ];
}

function alarmsFor(d, group) {
  const topic = [{ Ref: 'NotificationsTopic' }];
  const prefix = `${d.service}-${d.stage}-${group.key}`;
  return {
    [`${group.id}ErrorsAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-errors`,
        AlarmDescription: `The watchdog function of group ${group.name} failed (unhandled error or timeout).`,
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: group.functionName }],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}ClusterStateAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-cluster-state`,
        AlarmDescription: `Cluster ${d.cluster} needs action as seen from group ${group.name} (ClusterState = 2).`,
        Namespace: d.function.metricsNamespace,
        MetricName: 'ClusterState',
        Dimensions: dimensions(d, group),
        Statistic: 'Maximum',
        Period: periodOf(d),
        EvaluationPeriods: 1,
        Threshold: 2,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}SilentAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-silent`,
        AlarmDescription:
          `The watchdog of group ${group.name} reported no cluster state for two schedule intervals ` +
          '(one late run is tolerated; silence is not health).',
        Namespace: d.function.metricsNamespace,
        MetricName: 'ClusterState',
        Dimensions: dimensions(d, group),
        Statistic: 'SampleCount',
        Period: periodOf(d),
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}FailedCycleAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-failed-cycle`,
        AlarmDescription: `A run of the watchdog of group ${group.name} failed (its report or log says why).`,
        Namespace: d.function.metricsNamespace,
        MetricName: 'FailedCycle',
        Dimensions: dimensions(d, group),
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}FailedStepsAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-failed-steps`,
        AlarmDescription: `An operation of the watchdog of group ${group.name} had a failed step (see its audit record).`,
        Namespace: d.function.metricsNamespace,
        MetricName: 'OperationStepsFailed',
        Dimensions: dimensions(d, group),
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}AsyncEventsDroppedAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-async-events-dropped`,
        AlarmDescription:
          `Lambda dropped a schedule, alarm or continuation event of group ${group.name} ` +
          '(too old, throttled past its age, or failed with no retry left).',
        Namespace: 'AWS/Lambda',
        MetricName: 'AsyncEventsDropped',
        Dimensions: [{ Name: 'FunctionName', Value: group.functionName }],
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
    [`${group.id}ClusterDegradedAlarm`]: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${prefix}-cluster-degraded`,
        AlarmDescription: `Cluster ${d.cluster} has been degraded for three schedule intervals as seen from group ${group.name}.`,
        Namespace: d.function.metricsNamespace,
        MetricName: 'ClusterState',
        Dimensions: dimensions(d, group),
        Statistic: 'Minimum',
        Period: periodOf(d),
        EvaluationPeriods: 3,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: topic,
        OKActions: topic,
      },
    },
  };
}

function metric(d, group, name, options) {
  return [
    d.function.metricsNamespace,
    name,
    'service',
    d.powertoolsServiceName,
    'cluster',
    d.cluster,
    'group',
    group.name,
    options,
  ];
}

function dashboardBody(d) {
  const region = d.region;
  const widgets = [];
  const add = (title, metrics, extra = {}) => {
    const index = widgets.length;
    widgets.push({
      type: 'metric',
      x: (index % 2) * 12,
      y: Math.floor(index / 2) * 6,
      width: 12,
      height: 6,
      properties: { title, region, view: 'timeSeries', stacked: false, metrics, ...extra },
    });
  };
  add(
    'Cluster state (0 ok, 1 degraded, 2 needs action)',
    d.groups.map((g) =>
      metric(d, g, 'ClusterState', { stat: 'Maximum', period: periodOf(d), label: g.name }),
    ),
    {
      yAxis: { left: { min: 0, max: 2 } },
      annotations: { horizontal: [{ label: 'needs action', value: 2, color: '#d62728' }] },
    },
  );
  add(
    'Operations',
    d.groups.map((g) => metric(d, g, 'Operations', { stat: 'Sum', period: periodOf(d), label: g.name })),
  );
  add(
    'Operation duration (ms)',
    d.groups.flatMap((g) => [
      metric(d, g, 'OperationDurationMs', { stat: 'Maximum', period: periodOf(d), label: `${g.name} max` }),
      metric(d, g, 'OperationDurationMs', { stat: 'p50', period: periodOf(d), label: `${g.name} p50` }),
    ]),
  );
  add(
    'Check duration (ms)',
    d.groups.flatMap((g) => [
      metric(d, g, 'CheckDurationMs', { stat: 'Maximum', period: periodOf(d), label: `${g.name} max` }),
      metric(d, g, 'CheckDurationMs', { stat: 'p50', period: periodOf(d), label: `${g.name} p50` }),
    ]),
  );
  add(
    'Function errors and throttles',
    d.groups.flatMap((g) => [
      ['AWS/Lambda', 'Errors', 'FunctionName', g.functionName, { stat: 'Sum', label: `${g.name} errors` }],
      [
        'AWS/Lambda',
        'Throttles',
        'FunctionName',
        g.functionName,
        { stat: 'Sum', label: `${g.name} throttles` },
      ],
    ]),
  );
  add(
    'Function duration (ms)',
    d.groups.map((g) => [
      'AWS/Lambda',
      'Duration',
      'FunctionName',
      g.functionName,
      { stat: 'Maximum', label: `${g.name} max` },
    ]),
  );
  const logGroups = d.groups.map((g) => `SOURCE '/aws/lambda/${g.functionName}'`).join(' | ');
  widgets.push({
    type: 'log',
    x: 0,
    y: Math.ceil(widgets.length / 2) * 6,
    width: 24,
    height: 8,
    properties: {
      title: 'Last reports (analysis, plan, steps)',
      region,
      view: 'table',
      query: `${logGroups} | fields @timestamp, @log, message, report.analysis.code, report.plan.kind, report.error.message | filter message = 'cycle finished' or level = 'ERROR' | sort @timestamp desc | limit 50`,
    },
  });
  return JSON.stringify({ widgets });
}

function dashboard(d) {
  return {
    Dashboard: {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: {
        DashboardName: `${d.service}-${d.stage}`,
        DashboardBody: dashboardBody(d),
      },
    },
  };
}

module.exports = { alarmsFor, dashboard, dashboardBody, dimensions };
