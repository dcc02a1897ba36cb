/**
 * Operations that do not finish in one run: an operation master killed (SIGKILL) in the middle of a
 * reseed, and a run stopped by its deadline (the Lambda case). In both, the next run takes the
 * operation over through the election, skips the steps already done, reuses the dump and finishes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { runCycle } from '../../functions/operations/cycle.js';
import { continuationEvent } from '../../functions/operations/notify.js';
import { sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { parseEvent } from '../../functions/triggers/events.js';
import { deadlineWhen } from '../harness/wait.js';

let cluster: Cluster;
let config: Config;
let configPath: string;
const children: ChildProcess[] = [];

async function reseedStarted(db: Cluster['servers'][number]): Promise<boolean> {
  const rows = await db
    .query("SELECT state FROM ongoing_failover.operation_step WHERE kind = 'Reseed' AND state = 'started'")
    .catch(() => []);
  return rows.length > 0;
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'resume' });
  const raw = {
    ...cluster.config(),
    election: { leaseMs: 2_000, followerTimeoutMs: 10_000, pollMs: 100 },
  };
  config = parseConfig(raw, 'resume test');
  configPath = join(cluster.dir, 'resume.json');
  writeFileSync(configPath, JSON.stringify(raw));
  const db1 = cluster.servers[0]!;
  await db1.query('CREATE DATABASE app_resume');
  await db1.query('CREATE TABLE app_resume.t (id INT PRIMARY KEY, v VARCHAR(80)) ENGINE=InnoDB');
  await db1.query("INSERT INTO app_resume.t SELECT seq, REPEAT('r', 80) FROM test.seq_1_to_60000");
  await cluster.waitForReplication(cluster.servers[1]!);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await cluster?.stop();
});

/** Kills a watchdog started from the command line once its plan has reached the Reseed step. */
async function killedMidReseed(db: Cluster['servers'][number]): Promise<void> {
  const child = spawn(
    'node',
    ['bin/repl-watchdog.mjs', '--now', '--group', 'g1', '--config', configPath, '--json'],
    { stdio: 'ignore', env: { ...process.env, CONFIG_FILE: '', MF_CONFIG: '', CONFIG_SSM_PATH: '' } },
  );
  children.push(child);
  let started = false;
  // The command line loads its code, observes and elects before it reseeds: a minute on a loaded machine.
  const deadline = Date.now() + 90_000;
  while (!started && child.exitCode === null && Date.now() < deadline) {
    started = await reseedStarted(db);
    if (!started) await sleep(50);
  }
  expect(started).toBe(true);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

describe('an operation master killed mid-reseed', () => {
  it('is taken over by the next run, which skips the done steps and finishes the rebuild', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await cluster.breakReplication(db2);
    await killedMidReseed(db1);

    const report = await runCycle(
      config,
      { trigger: 'schedule', action: 'check', group: 'g1', dryRun: false, force: false },
      { routers: sandboxRouterSwitch(config) },
    );
    expect(report.analysis?.code).toBe('OperationInProgress');
    expect(report.plan?.kind).toBe('follow');
    expect(report.operation).toMatchObject({ operation: 'recover', role: 'master', outcome: 'completed' });
    expect(report.operation!.election?.tookOver.length).toBeGreaterThan(0);
    const steps = report.operation!.steps.map((s) => `${s.kind}:${s.outcome}`);
    expect(steps).toContain('Salvage:already-done');
    expect(steps).toContain('Reseed:done');
    expect(steps).toContain('Verify:done');
    expect(report.operation!.checksums[0]?.consistent).toBe(true);
    const after = await runCycle(config, {
      trigger: 'cli',
      action: 'check',
      group: 'g1',
      dryRun: true,
      force: false,
    });
    expect(after.analysis?.code).toBe('Ok');
  });
});

describe('a plan journaled by older code', () => {
  it('is resumed with what that code inferred: the rebuilt server joins read-only from slave_pos, the routers get it back', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await cluster.breakReplication(db2);
    await killedMidReseed(db1);
    // The stored plan as the older executor wrote it: steps without the fields the planner sets today
    // (StartReplication's gtidMode/keepReadOnly, Verify's accept) and no RestoreRouters step.
    const connection = await db1.connect();
    try {
      await connection.query('SET SESSION sql_log_bin = 0');
      const [rows] = await connection.query('SELECT opened_epoch, plan FROM ongoing_failover.operation_plan');
      const row = (rows as Array<{ opened_epoch: number; plan: string }>).at(-1)!;
      const plan = JSON.parse(row.plan) as { steps: Array<Record<string, unknown>> };
      plan.steps = plan.steps
        .filter((step) => step.kind !== 'RestoreRouters')
        .map(({ gtidMode: _g, keepReadOnly: _k, accept: _a, waitFor: _w, ...older }) => older);
      expect(plan.steps.map((step) => step.kind)).toEqual([
        'Salvage',
        'StopReplication',
        'Reseed',
        'StartReplication',
        'Verify',
      ]);
      await connection.query('UPDATE ongoing_failover.operation_plan SET plan = ? WHERE opened_epoch = ?', [
        JSON.stringify(plan),
        row.opened_epoch,
      ]);
    } finally {
      await connection.end();
    }

    const report = await runCycle(
      config,
      { trigger: 'schedule', action: 'check', group: 'g1', dryRun: false, force: false },
      { routers: sandboxRouterSwitch(config) },
    );
    expect(report.operation).toMatchObject({ operation: 'recover', role: 'master', outcome: 'completed' });
    const steps = report.operation!.steps;
    expect(steps.map((step) => `${step.kind}:${step.outcome}`)).toEqual([
      'Salvage:already-done',
      'StopReplication:already-done',
      'Reseed:done',
      'StartReplication:done',
      'Verify:done',
      'RestoreRouters:done',
    ]);
    const started = steps.find((step) => step.kind === 'StartReplication')!;
    expect(started.detail).toContain('GTID slave_pos');
    expect(started.detail).toContain('kept read-only');
    expect(Number((await db2.query('SELECT @@global.read_only AS ro'))[0]?.ro)).toBe(1);
    const restored = steps.find((step) => step.kind === 'RestoreRouters')!;
    expect(restored.detail).toContain(`-> ${db1.address}, ${db2.address}`);
  });
});

describe('a run stopped by its deadline during the reseed', () => {
  it('hands the lease back, asks for a continuation, and the continuation resumes from the stored dump', async () => {
    const [, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await cluster.breakReplication(db2);
    // The deadline strikes once the restore has begun on the target (the dump is complete).
    const deadline = deadlineWhen(
      () => db2.query('SELECT COUNT(*) AS n FROM ongoing_failover.restore_checkpoint').catch(() => []),
      (rows) => Number(rows[0]?.n ?? 0) > 0,
    );
    const first = await runCycle(
      config,
      { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
      { routers: sandboxRouterSwitch(config), signal: deadline.signal },
    );
    await deadline.stop();
    expect(first.operation).toMatchObject({ role: 'master', outcome: 'aborted', continuationNeeded: true });
    const reseed = first.operation!.steps.find((s) => s.kind === 'Reseed');
    expect(reseed?.outcome).toBe('failed');

    const event = continuationEvent(first);
    expect(event).toMatchObject({ source: 'mysql-failover.continuation', group: 'g1' });
    const invocation = parseEvent(event);
    expect(invocation.trigger).toBe('continuation');

    const second = await runCycle(config, invocation, { routers: sandboxRouterSwitch(config) });
    expect(second.analysis?.code).toBe('OperationInProgress');
    expect(second.operation).toMatchObject({
      role: 'master',
      outcome: 'completed',
      continuationNeeded: false,
    });
    const resumed = second.operation!.steps.find((s) => s.kind === 'Reseed');
    expect(resumed?.outcome).toBe('done');
    expect(resumed?.detail).toContain('dump of an earlier run reused');
    expect(second.operation!.checksums[0]?.consistent).toBe(true);
  });
});
