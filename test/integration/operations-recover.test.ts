/**
 * Recover and split brain on a real cluster (two MariaDB servers, one router): a replica broken by a
 * conflicting row, a replica holding its own writes, and two heads both written — each rebuilt from
 * the primary after its own transactions were saved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { runCycle } from '../../functions/operations/cycle.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';

describeFlavors('operations on a real cluster', (flavor) => {
  let cluster: Cluster;
  let config: Config;

  const check = (cfg: Config, dryRun: boolean) =>
    runCycle(
      cfg,
      { trigger: 'schedule', action: 'check', group: 'g1', dryRun, force: false },
      {
        routers: sandboxRouterSwitch(cfg),
      },
    );

  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 1, name: 'recover', ...flavorClusterOptions(flavor) });
    config = sandboxConfig(cluster, 'recover test');
    for (let i = 0; i < 20; i++) await cluster.writeSomething();
    await cluster.waitForReplication(cluster.servers[1]!);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('recover', () => {
    it('rebuilds a replica whose replication broke on a conflicting row, keeping a backup of it first', async () => {
      const [, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      const broken = await cluster.breakReplication(db2);
      expect(broken.errno).toBe(1062);
      const report = await check(config, false);
      expect(report.analysis?.code).toBe('RecoverNeeded');
      expect(report.operation).toMatchObject({ operation: 'recover', role: 'master', outcome: 'completed' });
      const kinds = report.operation!.steps.map((s) => `${s.kind}:${s.outcome}`);
      expect(kinds).toEqual([
        'Salvage:done',
        'StopReplication:done',
        'Reseed:done',
        'StartReplication:done',
        'Verify:done',
        // the rebuilt replica goes back into the routers as a fallback behind the primary
        'RestoreRouters:done',
      ]);
      expect(report.operation!.salvage[0]!.backup!.rows).toBeGreaterThan(0);
      expect(report.operation!.checksums).toHaveLength(1);
      expect(report.operation!.checksums[0]!.consistent).toBe(true);
      // it was a writable replica (the harness starts every server writable, the seed's mode); rebuilt,
      // it is a read-only one: a router falling back to it gets no write through until it is promoted
      const [ro] = await db2.query('SELECT @@global.read_only AS ro');
      expect(Number(ro?.ro)).toBe(1);
      expect((await check(config, true)).analysis?.code).toBe('Ok');
    });

    it('salvages the transactions a replica wrote on its own before rebuilding it', async () => {
      const [, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      const errant = await cluster.createErrantTransaction(db2);
      const report = await check(config, false);
      expect(report.analysis?.code).toBe('ReplicaErrantTransactions');
      expect(report.operation?.outcome).toBe('completed');
      const record = report.operation!.salvage[0]!;
      expect(record.transactions.map((t) => t.gtid)).toContain(errant.gtid);
      // Row values come from the flavor's own binlog reader (mariadb-binlog, MySQL's mysqlbinlog).
      const values = record.transactions.flatMap((t) => t.rows ?? []).flatMap((r) => r.values);
      expect(values).toContain(`@1=${errant.id}`);
      // The errant row is gone from the rebuilt replica (it is in the salvage record, not in the data).
      expect(await db2.query('SELECT id FROM harness.writes WHERE id = ?', [errant.id])).toHaveLength(0);
      expect((await check(config, true)).analysis?.code).toBe('Ok');
    });
  });

  describe('a primary that came back read-only', () => {
    it('is opened again when every server is read-only and none holds more than it', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      // What a restart with `read_only = ON` in my.cnf leaves: every server read-only, routers unchanged.
      await db2.query('SET GLOBAL read_only = ON');
      await db1.query('SET GLOBAL read_only = ON');
      const dry = await check(config, true);
      expect(dry.analysis).toMatchObject({ code: 'PrimaryReadOnly', candidate: db1.address });
      expect(dry.plan).toMatchObject({ kind: 'operation', operation: 'reopen' });
      const report = await check(config, false);
      expect(report.operation).toMatchObject({ operation: 'reopen', role: 'master', outcome: 'completed' });
      expect(report.operation!.steps.map((s) => `${s.kind}:${s.outcome}`)).toEqual([
        'Promote:done',
        'Verify:done',
      ]);
      const [ro] = await db1.query('SELECT @@global.read_only AS ro');
      expect(Number(ro?.ro)).toBe(0);
      expect((await check(config, true)).analysis?.code).toBe('Ok');
    });
  });

  describe('split brain (both sides written)', () => {
    it('only alerts under the alert-only policy, and resolves towards the routers side under resolve', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      // db2 stops being a replica, is opened (the rebuilds above left it read-only), and both servers
      // take writes the other lacks.
      await db2.query(cluster.sql.stopReplica());
      await db2.query(cluster.sql.resetReplicaAll());
      await db2.query('SET GLOBAL read_only = OFF');
      const onReplicaSide = await cluster.writeSomething(db2, 'split');
      await cluster.writeSomething(db1, 'split');

      const alertOnly = await check(config, false);
      expect(alertOnly.analysis?.code).toBe('SplitBrain');
      expect(alertOnly.plan).toMatchObject({ kind: 'alert-only', suppressed: { operation: 'split-brain' } });
      expect(alertOnly.operation).toBeUndefined();
      expect(await cluster.replicationStatus(db2)).toBeNull();

      const resolve = parseConfig(
        { ...cluster.config(), election: config.election, splitBrainPolicy: 'resolve' },
        'resolve',
      );
      const report = await check(resolve, false);
      expect(report.analysis?.code).toBe('SplitBrain');
      expect(report.operation).toMatchObject({
        operation: 'split-brain',
        outcome: 'completed',
        target: db1.address,
      });
      const steps = report.operation!.steps;
      expect(steps[0]).toMatchObject({ kind: 'Fence', target: db2.address, outcome: 'done' });
      const record = report.operation!.salvage[0]!;
      expect(record.server).toBe(db2.address);
      expect(record.transactions.map((t) => t.gtid)).toContain(onReplicaSide.gtid);
      expect((await check(config, true)).analysis?.code).toBe('Ok');
    });
  });
});
