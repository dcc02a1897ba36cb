/**
 * Failover and switchover on a real cluster (two MariaDB servers, two backend groups with an HAProxy
 * router each), every group's watchdog running at once as on an alarm.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../functions/config/schema.js';
import { type CycleReport, runCycle } from '../../functions/operations/cycle.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import {
  AckWriter,
  WRITER_SCHEMA,
  WRITER_TABLE,
  writerSetupStatements,
} from '../../functions/sandbox/writer.js';
import type { Invocation } from '../../functions/triggers/events.js';
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';
import { pollUntil } from '../harness/wait.js';

describeFlavors('failover and switchover', (flavor) => {
  let cluster: Cluster;
  let config: Config;
  const app = { user: 'app_writer', password: 'app-pw' };

  function runAll(invocation: Omit<Invocation, 'group'>, cfg: Config = config): Promise<CycleReport[]> {
    const routers = sandboxRouterSwitch(cfg);
    return Promise.all(
      cluster.groups.map((g) => runCycle(cfg, { ...invocation, group: g.name }, { routers })),
    );
  }

  function master(reports: CycleReport[]): CycleReport {
    const m = reports.filter((r) => r.operation?.role === 'master');
    const seen = reports.map(
      (r) =>
        `${r.group}: ${r.analysis?.code ?? '-'} ${r.plan?.kind ?? '-'} ${r.operation?.role ?? '-'} ${r.operation?.outcome ?? '-'} ${r.error?.message ?? r.operation?.error ?? ''}`,
    );
    expect(m, seen.join('\n')).toHaveLength(1);
    return m[0]!;
  }

  beforeAll(async () => {
    cluster = await startCluster({
      servers: 2,
      groups: 2,
      name: 'failover',
      ...flavorClusterOptions(flavor),
    });
    config = sandboxConfig(cluster, 'failover test');
    for (const sql of writerSetupStatements(app.user, app.password)) await cluster.servers[0]!.query(sql);
    await cluster.waitForReplication(cluster.servers[1]!);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('failover (primary killed and restarted before the watchdog runs)', () => {
    it('fences the old primary before promoting, salvages what the new primary lacks, and rebuilds it', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      // Writes the replica never receives: its IO thread is stopped first.
      await db2.query(cluster.sql.stopReplicaIoThread());
      const unreplicated = [
        await cluster.writeSomething(db1, 'unreplicated'),
        await cluster.writeSomething(db1, 'unreplicated'),
        await cluster.writeSomething(db1, 'unreplicated'),
      ];
      await db1.kill9();
      await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db2)));
      const onNewSide = await cluster.writeSomething(db2, 'after the kill');
      await db1.start();

      const reports = await runAll({ trigger: 'alarm', action: 'check', dryRun: false, force: false });
      for (const r of reports) expect(r.analysis?.code).toBe('FailoverNeeded');
      const m = master(reports);
      expect(m.operation).toMatchObject({ operation: 'failover', outcome: 'completed', target: db2.address });
      expect(reports.find((r) => r !== m)?.operation).toMatchObject({
        role: 'follower',
        outcome: 'followed',
      });

      const steps = m.operation!.steps;
      const index = (kind: string) => steps.findIndex((s) => s.kind === kind);
      expect(steps.filter((s) => s.outcome === 'failed')).toEqual([]);
      expect(index('Fence')).toBeLessThan(index('Promote'));
      expect(index('Salvage')).toBeLessThan(index('Reseed'));
      expect(steps[index('Fence')]!.detail).toContain('read_only=ON');

      // The salvage record names exactly the unreplicated transactions, with their rows.
      const [record] = m.operation!.salvage;
      expect(record).toBeDefined();

      expect(record!.count).toBe(3);
      expect(record!.transactions.map((t) => t.gtid).sort()).toEqual(unreplicated.map((u) => u.gtid).sort());
      // The exact events come from the flavor's own binlog reader (mariadb-binlog, MySQL's mysqlbinlog).
      const values = record!.transactions.flatMap((t) => t.rows ?? []).flatMap((r) => r.values);
      for (const u of unreplicated) expect(values).toContain(`@1=${u.id}`);
      expect(record!.binlogExtract).not.toBeNull();
      const extract = readFileSync(record!.binlogExtract!.url, 'utf8');
      for (const u of unreplicated) expect(extract).toContain(u.gtid);
      expect(record!.backup?.rows).toBeGreaterThan(0);

      // Consistent again: the old primary replicates from the new one, checksums equal.
      expect(m.operation!.checksums.every((c) => c.consistent)).toBe(true);
      const status = await cluster.replicationStatus(db1);
      expect(status).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
      if (flavor === 'mariadb') expect(status?.Using_Gtid).toBe('Slave_Pos');
      else expect(Number(status?.Auto_Position)).toBe(1);
      const [ro] = await db1.query('SELECT @@global.read_only AS ro');
      expect(Number(ro!.ro)).toBe(1);
      const rows = await db1.query('SELECT id FROM harness.writes WHERE id = ?', [onNewSide.id]);
      expect(rows).toHaveLength(1);

      const check = await runCycle(config, {
        trigger: 'cli',
        action: 'check',
        group: 'g1',
        dryRun: true,
        force: false,
      });
      expect(check.analysis?.code).toBe('Ok');
      expect(check.coordination).toBeUndefined();
    });

    it('refuses a second failover inside the anti-flap period unless forced', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      // Make the cluster ask for a failover again: the routers' target (db2) is made a replica of db1.
      const before = await runCycle(config, {
        trigger: 'cli',
        action: 'check',
        group: 'g1',
        dryRun: true,
        force: false,
      });
      expect(before.analysis?.code).toBe('Ok');
      await db1.query(cluster.sql.stopReplica());
      await db1.query(cluster.sql.resetReplicaAll());
      const change = cluster.sql.changeSource({
        host: '127.0.0.1',
        port: db1.port,
        user: config.credentials.replication!.user,
        password: config.credentials.replication!.password,
        mariadbGtidMode: 'current_pos',
      });
      await db2.query(change.sql, change.values);
      const blocked = await runCycle(config, {
        trigger: 'alarm',
        action: 'check',
        group: 'g1',
        dryRun: true,
        force: false,
      });
      expect(blocked.analysis?.code).toBe('FailoverNeeded');
      expect(blocked.plan).toMatchObject({ kind: 'alert-only', suppressed: { operation: 'failover' } });
      expect(blocked.coordination?.antiFlapUntil).not.toBeNull();
      const forced = await runCycle(config, {
        trigger: 'console',
        action: 'check',
        group: 'g1',
        dryRun: true,
        force: true,
        target: db2.address,
      });
      expect(forced.plan).toMatchObject({
        kind: 'operation',
        operation: 'failover',
        forced: { target: db2.address },
      });
      // Put it back as it was (db1 replica of db2), without the watchdog.
      await db2.query(cluster.sql.resetReplicaAll());
      await cluster.startReplication(db1, db2);
      await cluster.waitForReplication(db1);
    });
  });

  describe('switchover', () => {
    it('moves the primary under a write load with zero lost acknowledged writes', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      // The previous test re-pointed replication by hand: wait until the cluster has settled to Ok.
      const dry = { trigger: 'cli', action: 'check', group: 'g1', dryRun: true, force: false } as const;
      const pre = await pollUntil(
        () => runCycle(config, dry),
        (r) => r.analysis?.code === 'Ok',
      );
      expect(pre.analysis?.code).toBe('Ok');
      expect(pre.analysis?.primary).toBe(db2.address);
      const writer = new AckWriter(
        cluster.groups.flatMap((g) => g.routers.map((r) => ({ group: g.name, host: r.host, port: r.port }))),
        app,
      );
      writer.start();
      // Under load before the switch: writes acknowledged through every group's router.
      await pollUntil(
        () => writer.firstAckOn(db2.serverId, 0).size,
        (groups) => groups === cluster.groups.length,
        { intervalMs: 50 },
      );
      // It comes minutes after the failover of the tests above: without an anti-flap period (whose
      // refusal is tested above), as an operator's switchover after the hold.
      const reports = await runAll(
        { trigger: 'console', action: 'switchover', target: db1.address, dryRun: false, force: false },
        { ...config, antiFlapSeconds: 0 },
      );
      const m = master(reports);
      // ... and after it, on the new primary through every router (the writer retries through errors).
      const switchedAt = Date.now();
      await pollUntil(
        () => writer.firstAckOn(db1.serverId, switchedAt).size,
        (groups) => groups === cluster.groups.length,
        { intervalMs: 50 },
      );
      const stats = await writer.stop();
      expect(m.operation).toMatchObject({
        operation: 'switchover',
        outcome: 'completed',
        target: db1.address,
      });
      expect(m.operation!.steps.filter((s) => s.outcome === 'failed')).toEqual([]);
      expect(stats.acked).toBeGreaterThan(0);

      const present = new Set(
        (await db1.query(`SELECT id FROM ${WRITER_SCHEMA}.${WRITER_TABLE}`)).map((r) => String(r.id)),
      );
      const lost = [...writer.ids()].filter((id) => !present.has(id));
      expect(lost).toEqual([]);
      // Writes went to the new primary through every router after the switch.
      expect(writer.firstAckOn(db1.serverId, 0).size).toBe(cluster.groups.length);
      for (const r of cluster.routers) expect(await r.routesTo()).toBe(db1.address);
      const status = await cluster.replicationStatus(db2);
      expect(status).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
      const post = await runCycle(config, {
        trigger: 'cli',
        action: 'check',
        group: 'g1',
        dryRun: true,
        force: false,
      });
      expect(post.analysis?.code).toBe('Ok');
    });
  });
});
