/**
 * The cost table (docs/deployment.md, bench/detect-cost.ts) counts what the stack really creates and
 * what the function really publishes: the alarms of the packaged template and of a 3-group deployment
 * (each reading one metric), and the metric series of the embedded-metric lines a healthy run writes
 * (each alarm on a custom metric reads a series the function publishes, with the same dimensions).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { baseCost, CLUSTER, MONITORING, PRICES } from '../../../bench/detect-cost.js';
import type { Config } from '../../../functions/config/schema.js';
import type { CycleReport } from '../../../functions/operations/cycle.js';
import { addMetricDimensions, recordCycleMetrics } from '../../../functions/operations/metrics.js';
import { recordOperationMetrics } from '../../../functions/operations/notify.js';
import { type CfnResource, ensurePackaged, ROOT, readTemplate } from './packaged.js';

const require = createRequire(import.meta.url);
const deployment = require('../../../infra/deployment/index.cjs') as {
  normalize: (raw: unknown, opts: { service: string; stage: string }) => Deployment;
  build: (d: Deployment) => { resources: { Resources: Record<string, CfnResource> } };
};

interface Deployment {
  cluster: string;
  groups: { name: string }[];
  powertoolsServiceName: string;
  function: { metricsNamespace: string };
}

const raw = parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Record<string, unknown>;
const sample = deployment.normalize(raw, { service: 'mysql-failover', stage: 'sample' });
/** The documented cluster: the sample with 3 groups. */
const documented = deployment.normalize(
  { ...raw, groups: [{ name: 'web' }, { name: 'api' }, { name: 'jobs' }], watchdog: undefined },
  { service: 'mysql-failover', stage: 'sample' },
);

type Props = Record<string, unknown>;
const alarmsOf = (resources: Record<string, CfnResource>): Props[] =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
    .map((r) => r.Properties);

interface Series {
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
}
const key = (s: Series): string =>
  `${s.namespace}|${s.metric}|${Object.entries(s.dimensions)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;

/** The series one EMF line (Powertools' serialized output) defines. */
function seriesOf(emf: Record<string, unknown>): Series[] {
  const [directive] = (emf._aws as { CloudWatchMetrics: Props[] }).CloudWatchMetrics;
  const sets = directive!.Dimensions as string[][];
  return (directive!.Metrics as { Name: string }[]).flatMap((m) =>
    sets.map((set) => ({
      namespace: String(directive!.Namespace),
      metric: m.Name,
      dimensions: Object.fromEntries(set.map((name) => [name, String(emf[name])])),
    })),
  );
}

function metricsInstance(d: Deployment): Metrics {
  return new Metrics({ namespace: d.function.metricsNamespace, serviceName: d.powertoolsServiceName });
}

const config = (d: Deployment) => ({ clusterName: d.cluster }) as unknown as Config;
const healthyReport = (group: string) =>
  ({ group, analysis: { code: 'Ok' }, timings: { totalMs: 42 } }) as unknown as CycleReport;

/** The series of a healthy scheduled run of each group. */
function healthySeries(d: Deployment): Series[] {
  return d.groups.flatMap((g) => {
    const metrics = metricsInstance(d);
    recordCycleMetrics(metrics, config(d), healthyReport(g.name));
    return seriesOf(metrics.serializeMetrics() as unknown as Record<string, unknown>);
  });
}

describe('the cost model against the stack', () => {
  beforeAll(() => ensurePackaged(), 180_000);

  it('counts the alarms the packaged template and a 3-group deployment create, each reading one metric', () => {
    const packaged = alarmsOf(readTemplate().Resources);
    expect(packaged).toHaveLength(MONITORING.alarms(sample.groups.length));
    const three = alarmsOf(deployment.build(documented).resources.Resources);
    expect(three).toHaveLength(MONITORING.alarms(CLUSTER.groups));
    expect(three).toHaveLength(CLUSTER.groups * MONITORING.alarmsPerGroup + MONITORING.clusterAlarms);
    for (const alarm of [...packaged, ...three]) {
      // No metric-math or Metrics Insights alarm: each is billed for exactly one metric.
      expect(alarm.Metrics).toBeUndefined();
      expect(typeof alarm.MetricName).toBe('string');
    }
    expect(baseCost(CLUSTER.groups).alarmsUsd).toBeCloseTo(three.length * PRICES.alarmMetricMonth, 10);
  });

  it('counts the series a healthy run of every group publishes', () => {
    const distinct = new Set(healthySeries(documented).map(key));
    expect(distinct.size).toBe(MONITORING.seriesAlways(CLUSTER.groups));
    expect(baseCost(CLUSTER.groups).metricsUsd).toBeCloseTo(distinct.size * PRICES.metricMonth, 10);
  });

  it('publishes every series a custom-metric alarm reads, with the same dimensions', () => {
    const d = documented;
    const published = new Set(healthySeries(d).map(key));
    // A failed run and an operation (published only then: no series while healthy).
    for (const g of d.groups) {
      const failed = metricsInstance(d);
      addMetricDimensions(failed, d.cluster, g.name);
      failed.addMetric('FailedCycle', 'Count', 1);
      for (const s of seriesOf(failed.serializeMetrics() as unknown as Record<string, unknown>))
        published.add(key(s));
      const op = metricsInstance(d);
      const report = {
        ...healthyReport(g.name),
        operation: { operation: 'failover', role: 'master', outcome: 'done', durationMs: 9, steps: [] },
      } as unknown as CycleReport;
      recordCycleMetrics(op, config(d), report);
      recordOperationMetrics(op, report);
      const series = seriesOf(op.serializeMetrics() as unknown as Record<string, unknown>);
      expect(series.filter((s) => s.metric !== 'ClusterState')).toHaveLength(MONITORING.seriesPerOperation);
      for (const s of series) published.add(key(s));
    }
    const custom = alarmsOf(deployment.build(d).resources.Resources).filter(
      (a) => a.Namespace === d.function.metricsNamespace,
    );
    expect(custom.length).toBeGreaterThan(0);
    for (const alarm of custom) {
      const dims = Object.fromEntries(
        (alarm.Dimensions as { Name: string; Value: string }[]).map((x) => [x.Name, x.Value]),
      );
      const series = {
        namespace: String(alarm.Namespace),
        metric: String(alarm.MetricName),
        dimensions: dims,
      };
      expect(published.has(key(series)), `${String(alarm.AlarmName)} reads ${key(series)}`).toBe(true);
    }
  });
});
