/**
 * The Lambda handler against a real local cluster: every trigger produces a report with the analysis
 * and the plan; a malformed console event gets a validation error, not a stack trace.
 */
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { pollUntil } from '../harness/wait.js';

const context = {
  functionName: 'mysql-failover-g1',
  awsRequestId: 'test-request',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

/** A sample event (events/, named for the sample stage's groups) aimed at this cluster's group g1. */
const sample = (name: string): unknown => {
  const event = JSON.parse(readFileSync(`events/${name}.json`, 'utf8')) as Record<string, unknown>;
  return 'group' in event ? { ...event, group: 'g1' } : event;
};

let cluster: Cluster;
// Reports are read field by field below, as JSON; their full types are checked in the unit tests.
// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; report?: Json; error?: Json }>;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'handler' });
  process.env.CONFIG_FILE = cluster.configFile();
  process.env.GROUP = 'g1';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  ({ handler } = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('watchdog handler', () => {
  it('runs a check on the schedule and reports Ok with nothing to do', async () => {
    const result = await handler(sample('schedule'), context);
    expect(result.ok).toBe(true);
    expect(result.report).toMatchObject({
      trigger: 'schedule',
      action: 'check',
      group: 'g1',
      mode: 'execute',
      analysis: { code: 'Ok' },
      plan: { kind: 'none', steps: [] },
    });
    expect(result.report.timings.totalMs).toBeGreaterThan(0);
    expect(result.report.snapshot.servers).toHaveLength(2);
  });

  it('runs a check on a raw EventBridge Scheduled Event for its own group (env GROUP)', async () => {
    const result = await handler(sample('eventbridge-scheduled'), context);
    expect(result.report).toMatchObject({ trigger: 'schedule', group: 'g1', analysis: { code: 'Ok' } });
  });

  it('runs a check on a CloudWatch alarm, from EventBridge and from SNS', async () => {
    for (const name of ['alarm-state-change', 'alarm-sns']) {
      const result = await handler(sample(name), context);
      expect(result.report).toMatchObject({
        trigger: 'alarm',
        alarm: { name: 'shop-db-primary-unreachable', state: 'ALARM' },
        analysis: { code: 'Ok' },
      });
    }
  });

  it('answers a console status with the observation and no plan', async () => {
    const result = await handler(sample('console-status'), context);
    expect(result.report.action).toBe('status');
    expect(result.report.plan).toBeUndefined();
    expect(result.report.snapshot.routers[0].routesTo).toBe(cluster.servers[0]!.address);
  });

  it('answers a malformed console event with a validation error naming the fields', async () => {
    const result = await handler(sample('console-malformed'), context);
    expect(result.ok).toBe(false);
    expect(result.error.code).toBe('EventValidationError');
    expect(result.error.message).toContain(
      'action: must be one of check, status, failover, recover, switchover',
    );
    expect(result.error.message).toContain('dryRun: must be true or false');
  });

  it('reports an unknown group as a configuration error, not a crash', async () => {
    const result = await handler({ action: 'check', group: 'nope' }, context);
    expect(result.ok).toBe(false);
    expect(result.report?.error?.message ?? result.error?.message).toMatch(/unknown group "nope"/);
  });

  it('promotes the replica on the alarm after the primary is killed and the routers moved', async () => {
    const [primary, replica] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await primary.kill9();
    await cluster.waitForRouterTarget(cluster.groups[0]!.routers[0]!, replica);
    // A dry run first: the plan is reported and nothing is changed.
    const dry: Json = await pollUntil(
      async () => (await handler({ action: 'check', group: 'g1', dryRun: true }, context)).report,
      (report: Json) => report.analysis.code === 'PrimaryDead',
    );
    expect(dry.analysis.code).toBe('PrimaryDead');
    expect(dry).toMatchObject({ mode: 'detect-and-plan', dryRun: true, plan: { kind: 'operation' } });
    expect(dry.operation).toBeUndefined();

    const result = await handler(sample('alarm-state-change'), context);
    expect(result.ok).toBe(true);
    expect(result.report).toMatchObject({
      mode: 'execute',
      analysis: { code: 'PrimaryDead' },
      plan: { kind: 'operation', operation: 'promote-dead' },
      operation: { role: 'master', outcome: 'completed', target: replica.address },
    });
    const kinds = result.report.operation.steps.map((s: Json) => `${s.kind}:${s.outcome}`);
    expect(kinds).toContain('Promote:done');
    expect(kinds).toContain('SwitchRouters:done');

    // Afterwards only the dead old primary is left to report, and it is owed a rebuild.
    const after = await handler({ action: 'check', group: 'g1', dryRun: true }, context);
    expect(after.report.analysis.code).toBe('ReplicaDown');
    expect(after.report.coordination.fenced).toEqual([primary.address]);
  });
});
