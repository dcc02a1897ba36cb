'use strict';
/**
 * Alarms and the dashboard. The watchdog writes its metrics as CloudWatch embedded metric format
 * (Powertools Metrics) into its own log group: namespace `function.metricsNamespace`, two dimension
 * sets, {service, cluster, group} and {service, cluster} (`service` added by Powertools, =
 * POWERTOOLS_SERVICE_NAME). An alarm only matches a metric with exactly the same dimension set.
 *
 *   ClusterState         0 = Ok, 1 = degraded (alert only), 2 = needs action; every run
 *   FailedCycle          1 for a run whose cycle failed (config unreadable, a step failed, ...); only then
 *   OperationStepsFailed failed steps of an operation; per operation
 *   Operations           count of operations run (failover, recover, switchover, ...); per operation
 *   OperationDurationMs  duration of each operation
 * CloudWatch bills a series (name + dimension set) for each hour it has data, and an alarm per metric
 * it reads: bench/detect-cost.ts counts both, test/unit/deploy/cost-model.test.ts checks the count.
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

/**
 * The cluster-wide dimension set: every metric is also published without `group` (a second EMF
 * dimension set, functions/operations/metrics.ts), so one alarm covers every group of the cluster.
 */
function clusterDimensions(d) {
  return [
    { Name: 'service', Value: d.powertoolsServiceName },
    { Name: 'cluster', Value: d.cluster },
  ];
}

/** A standard-resolution alarm on one metric, notifying the topic on ALARM and on OK. */
function alarm(name, description, metric) {
  const topic = [{ Ref: 'NotificationsTopic' }];
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name,
      AlarmDescription: description,
      ...metric,
      AlarmActions: topic,
      OKActions: topic,
    },
  };
}

const atLeastOnce = {
  Statistic: 'Sum',
  Period: 300,
  EvaluationPeriods: 1,
  Threshold: 1,
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  TreatMissingData: 'notBreaching',
};

/**
 * What must be watched per group: the function itself (AWS/Lambda metrics carry only FunctionName)
 * and its silence (a group whose runs stopped reporting cannot be seen in the other groups' data).
 * Each CloudWatch alarm is billed per metric it reads (USD 0.10 a month each, bench/detect-cost.ts).
 */
function alarmsFor(d, group) {
  const prefix = `${d.service}-${d.stage}-${group.key}`;
  const fn = [{ Name: 'FunctionName', Value: group.functionName }];
  return {
    [`${group.id}ErrorsAlarm`]: alarm(
      `${prefix}-errors`,
      `The watchdog function of group ${group.name} failed (unhandled error or timeout).`,
      { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: fn, ...atLeastOnce },
    ),
    [`${group.id}SilentAlarm`]: alarm(
      `${prefix}-silent`,
      `The watchdog of group ${group.name} reported no cluster state for two schedule intervals ` +
        '(one late run is tolerated; silence is not health).',
      {
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
      },
    ),
    [`${group.id}AsyncEventsDroppedAlarm`]: alarm(
      `${prefix}-async-events-dropped`,
      `Lambda dropped a schedule, alarm or continuation event of group ${group.name} ` +
        '(too old, throttled past its age, or failed with no retry left).',
      { Namespace: 'AWS/Lambda', MetricName: 'AsyncEventsDropped', Dimensions: fn, ...atLeastOnce },
    ),
  };
}

/**
 * What holds for the cluster whichever group saw it: one alarm each on the cluster-wide series, whose
 * data points are every group's (the notification's log query and the function's own SNS message name
 * the group).
 */
function clusterAlarms(d) {
  const prefix = `${d.service}-${d.stage}`;
  const metric = (name) => ({
    Namespace: d.function.metricsNamespace,
    MetricName: name,
    Dimensions: clusterDimensions(d),
  });
  return {
    ClusterStateAlarm: alarm(
      `${prefix}-cluster-state`,
      `Cluster ${d.cluster} needs action as seen from one of its groups (ClusterState = 2).`,
      {
        ...metric('ClusterState'),
        Statistic: 'Maximum',
        Period: periodOf(d),
        EvaluationPeriods: 1,
        Threshold: 2,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      },
    ),
    ClusterDegradedAlarm: alarm(
      `${prefix}-cluster-degraded`,
      `Cluster ${d.cluster} has been degraded for three schedule intervals (a group reported ClusterState 1 or more in each).`,
      {
        ...metric('ClusterState'),
        // Maximum, not Minimum: one group's degraded view must not be hidden by another group's Ok.
        Statistic: 'Maximum',
        Period: periodOf(d),
        EvaluationPeriods: 3,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      },
    ),
    FailedCycleAlarm: alarm(
      `${prefix}-failed-cycle`,
      `A run of a watchdog of cluster ${d.cluster} failed (its report or log says why and which group).`,
      { ...metric('FailedCycle'), ...atLeastOnce },
    ),
    FailedStepsAlarm: alarm(
      `${prefix}-failed-steps`,
      `An operation of a watchdog of cluster ${d.cluster} had a failed step (see its audit record).`,
      { ...metric('OperationStepsFailed'), ...atLeastOnce },
    ),
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
  // The check duration is no metric (a series per group would cost every hour): the reports carry it.
  widgets.push({
    type: 'log',
    x: (widgets.length % 2) * 12,
    y: Math.floor(widgets.length / 2) * 6,
    width: 12,
    height: 6,
    properties: {
      title: 'Check duration (ms, from the reports)',
      region,
      view: 'timeSeries',
      stacked: false,
      query: `${logGroups} | filter message = 'cycle finished' | stats max(report.timings.totalMs) as maxMs, pct(report.timings.totalMs, 50) as p50Ms by bin(${periodOf(d)}s)`,
    },
  });
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

module.exports = { alarmsFor, clusterAlarms, clusterDimensions, dashboard, dashboardBody, dimensions };
