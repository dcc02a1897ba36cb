/**
 * MySQL's physical reseed as the watchdog runs it, on a real MySQL 9.7 cluster: config
 * `reseed.method: physical` makes the recover operation's Reseed step rebuild a diverged replica with
 * CLONE INSTANCE FROM its source (the clone plugin loaded on both servers, the watchdog holding the
 * privileges the README lists), then StartReplication makes it a replica again. The recipient restarts
 * after the copy: under systemd it is started again by its unit (the harness plays that part); a server
 * nobody supervises stops with error 3707.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLONE_PRIVILEGES, OWN_GLOBAL_PRIVILEGES_SQL } from '../../functions/cluster/flavor.js';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { runCycle } from '../../functions/operations/cycle.js';
import { continuationEvent } from '../../functions/operations/notify.js';
import { sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { parseEvent } from '../../functions/triggers/events.js';
import { MYSQL_SKIP_REASON } from '../harness/flavors.js';
import { checksums } from '../harness/s3-dump-fixtures.js';
import { deadlineWhen } from '../harness/wait.js';

type Server = Cluster['servers'][number];

async function seed(cluster: Cluster): Promise<void> {
  const db1 = cluster.servers[0]!;
  const c = await db1.connect();
  try {
    await c.query('CREATE DATABASE app_clone');
    await c.query('CREATE TABLE app_clone.t (id INT PRIMARY KEY, v VARCHAR(80)) ENGINE=InnoDB');
    await c.query('SET SESSION cte_max_recursion_depth = 100000');
    await c.query(
      "INSERT INTO app_clone.t WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 30000) SELECT n, REPEAT('r', 80) FROM s",
    );
  } finally {
    await c.end();
  }
  await cluster.waitForReplication(cluster.servers[1]!);
}

function physicalConfig(cluster: Cluster): Config {
  return parseConfig(
    {
      ...cluster.config(),
      election: { leaseMs: 2_000, followerTimeoutMs: 10_000, pollMs: 100 },
      reseed: { method: 'physical' },
    },
    'clone reseed test',
  );
}

/** The watchdog's recover operation rebuilds the broken replica without CLONE (`auto` fell back). */
async function expectRebuiltLogically(cluster: Cluster, config: Config): Promise<void> {
  const [db1, db2] = cluster.servers as [Server, Server];
  const outcome = await runCycle(
    config,
    { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
    { routers: sandboxRouterSwitch(config) },
  );
  expect(outcome.operation, JSON.stringify(outcome.operation?.steps)).toMatchObject({ outcome: 'completed' });
  expect(outcome.operation!.steps.find((s) => s.kind === 'Reseed')?.detail).not.toMatch(/cloned from/);
  await expectRebuilt(cluster, config, db1, db2);
}

/** A seeded MySQL cluster whose watchdog reseeds with `reseed.method: auto` at any size. */
async function autoCluster(
  name: string,
  serverArgs: string[] = [],
): Promise<{ cluster: Cluster; config: Config }> {
  const cluster = await startCluster({ servers: 2, groups: 1, name, flavor: 'mysql', serverArgs });
  const config = parseConfig(
    {
      ...cluster.config(),
      election: { leaseMs: 2_000, followerTimeoutMs: 10_000, pollMs: 100 },
      reseed: { method: 'auto', physicalAboveGb: 0 },
    },
    'clone reseed test',
  );
  await seed(cluster);
  return { cluster, config };
}

/** The rebuilt replica: the source's data, read-only, replicating with auto-positioning, analysis Ok. */
async function expectRebuilt(cluster: Cluster, config: Config, db1: Server, db2: Server): Promise<void> {
  await db1.query("INSERT INTO app_clone.t SELECT MAX(id) + 1, 'after the rebuild' FROM app_clone.t");
  await cluster.waitForReplication(db2, 60_000);
  expect(await checksums(db2, ['app_clone'])).toEqual(await checksums(db1, ['app_clone']));
  const [ro] = await db2.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
  expect(Number(ro?.ro)).toBe(1);
  // read_only was persisted for the restart only: the server's own configuration decides again.
  const persisted = await db2.query<{ name: string }[]>(
    'SELECT VARIABLE_NAME AS name FROM performance_schema.persisted_variables',
  );
  expect(persisted).toEqual([]);
  const status = await cluster.replicationStatus(db2);
  expect(status).toMatchObject({
    Replica_IO_Running: 'Yes',
    Replica_SQL_Running: 'Yes',
    Source_Port: db1.port,
    Auto_Position: 1,
  });
  const after = await runCycle(config, {
    trigger: 'cli',
    action: 'check',
    group: 'g1',
    dryRun: true,
    force: false,
  });
  expect(after.analysis?.code, JSON.stringify(after.analysis?.evidence)).toBe('Ok');
}

/** read_only, and whether any replication thread runs. */
async function look(cluster: Cluster, server: Server) {
  const [r] = await server.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
  const status = await cluster.replicationStatus(server);
  return {
    readOnly: Number(r?.ro),
    replicating:
      status !== null && (status.Replica_IO_Running !== 'No' || status.Replica_SQL_Running !== 'No'),
  };
}

/** The server's state the first moment it answers after its restart (the harness's restart count). */
async function lookAfterRestart(cluster: Cluster, server: Server, stop: AbortSignal) {
  const before = server.restarts;
  while (!stop.aborted) {
    if (server.restarts > before) {
      const seen = await look(cluster, server).catch(() => null);
      if (seen) return seen;
    }
    await sleep(10);
  }
  return 'never seen back';
}

/** The server's state right after `started` (someone started it again) resolved. */
async function lookAfterStart(cluster: Cluster, server: Server, started: Promise<string>) {
  return (await started) === 'started' ? look(cluster, server) : 'never started';
}

describe.skipIf(MYSQL_SKIP_REASON !== null)('a CLONE reseed through the recover operation', () => {
  describe('on servers their unit restarts (systemd)', () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      cluster = await startCluster({
        servers: 2,
        groups: 1,
        name: 'clone-op',
        flavor: 'mysql',
        supervisedServers: true,
      });
      config = physicalConfig(cluster);
      await seed(cluster);
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('rebuilds a diverged replica as a copy of its source that replicates again, read-only', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      await cluster.breakReplication(db2);
      const done = new AbortController();
      const firstLook = lookAfterRestart(cluster, db2, done.signal);
      const outcome = await runCycle(
        config,
        { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
        { routers: sandboxRouterSwitch(config) },
      ).finally(() => done.abort());
      // As it came back from the copy, before the operation made it a replica: read-only, and not
      // replicating from whatever configuration the copy left there.
      expect(await firstLook).toEqual({ readOnly: 1, replicating: false });
      const steps = outcome.operation?.steps.map((s) => `${s.kind}:${s.outcome}`);
      expect(outcome.operation, JSON.stringify(outcome.operation?.steps)).toMatchObject({
        outcome: 'completed',
        continuationNeeded: false,
      });
      expect(steps).toEqual(expect.arrayContaining(['Reseed:done', 'StartReplication:done']));
      const reseed = outcome.operation!.steps.find((s) => s.kind === 'Reseed');
      expect(reseed?.detail).toMatch(/cloned from/);
      // The server restarted itself once, through its supervisor.
      expect(db2.restarts).toBe(1);
      await expectRebuilt(cluster, config, db1, db2);
    }, 600_000);

    it('follows a copy its run stopped waiting for (the deadline) in the continuation, without copying again', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      const began = async () =>
        (
          await db2
            .query<{ b: string | null; s: string }[]>(
              'SELECT CAST(BEGIN_TIME AS CHAR) AS b, STATE AS s FROM performance_schema.clone_status',
            )
            .catch(() => [])
        )[0] ?? null;
      const before = (await began())?.b ?? null;
      await cluster.breakReplication(db2);
      // The deadline strikes once the recipient reports the new copy in progress.
      const deadline = deadlineWhen(began, (now) => !!now?.b && now.b !== before && now.s === 'In Progress', {
        intervalMs: 10,
        polls: 3_000,
      });
      const restarts = db2.restarts;
      const first = await runCycle(
        config,
        { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
        { routers: sandboxRouterSwitch(config), signal: deadline.signal },
      );
      const copying = (await deadline.stop())?.b ?? null;
      expect(copying, 'the copy was never seen in progress').not.toBeNull();
      expect(first.operation, JSON.stringify(first.operation?.steps)).toMatchObject({
        outcome: 'aborted',
        continuationNeeded: true,
      });
      const second = await runCycle(config, parseEvent(continuationEvent(first)), {
        routers: sandboxRouterSwitch(config),
      });
      expect(second.operation, JSON.stringify(second.operation?.steps)).toMatchObject({
        outcome: 'completed',
        continuationNeeded: false,
      });
      expect(second.operation!.steps.find((s) => s.kind === 'Reseed')?.detail).toMatch(/cloned from/);
      // One copy: the one the first run started, restarted once; the journal says so.
      expect((await began())?.b).toBe(copying);
      expect(db2.restarts).toBe(restarts + 1);
      const journal = await db1.query<{ state: string; attempt: number }[]>(
        "SELECT state, attempt FROM ongoing_failover.reseed_command WHERE stage = 'clone' AND server = ? ORDER BY opened_epoch DESC LIMIT 1",
        [db2.address],
      );
      expect(journal.map((r) => [r.state, Number(r.attempt)])).toEqual([['done', 1]]);
      await expectRebuilt(cluster, config, db1, db2);
    }, 600_000);

    it('rebuilds it again (super_read_only), and it does not start the replication the copy brings from its source', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      // A configuration left on the source (stopped, pointing nowhere): CLONE copies the replication
      // metadata tables, and a server starts the replication they describe when it starts.
      const { replication } = cluster.credentials;
      const leftover = cluster.sql.changeSource({
        host: '127.0.0.1',
        port: 1,
        user: replication.user,
        password: replication.password,
        connectRetrySeconds: 1,
      });
      await db1.query(leftover.sql, leftover.values);
      // The replica as the first rebuild left it: fenced with super_read_only, which CLONE refuses (1290).
      const [fenced] = await db2.query<{ s: number }[]>('SELECT @@global.super_read_only AS s');
      expect(Number(fenced?.s)).toBe(1);
      try {
        await cluster.breakReplication(db2);
        const done = new AbortController();
        const firstLook = lookAfterRestart(cluster, db2, done.signal);
        const outcome = await runCycle(
          config,
          { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
          { routers: sandboxRouterSwitch(config) },
        ).finally(() => done.abort());
        expect(outcome.operation, JSON.stringify([outcome.analysis, outcome.operation?.steps])).toMatchObject(
          {
            outcome: 'completed',
          },
        );
        expect(await firstLook).toEqual({ readOnly: 1, replicating: false });
      } finally {
        await db1.query(cluster.sql.resetReplicaAll());
      }
      await expectRebuilt(cluster, config, db1, db2);
    }, 600_000);
  });

  describe('on servers nobody supervises (error 3707)', () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      cluster = await startCluster({ servers: 2, groups: 1, name: 'clone-3707', flavor: 'mysql' });
      config = physicalConfig(cluster);
      await seed(cluster);
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('waits for the stopped copy to be started by hand, then makes it a replica', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      await cluster.breakReplication(db2);
      const done = new AbortController();
      // The operator: starts the server again once it stopped after the copy, as it is configured.
      const operator = (async () => {
        while (!done.signal.aborted) {
          if (!db2.isRunning()) {
            await db2.start();
            return 'started';
          }
          await sleep(50);
        }
        return 'never stopped';
      })();
      const firstLook = lookAfterStart(cluster, db2, operator);
      const outcome = await runCycle(
        config,
        { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
        { routers: sandboxRouterSwitch(config) },
      ).finally(() => done.abort());
      expect(await operator).toBe('started');
      expect(await firstLook).toEqual({ readOnly: 1, replicating: false });
      expect(outcome.operation, JSON.stringify(outcome.operation?.steps)).toMatchObject({
        outcome: 'completed',
        continuationNeeded: false,
      });
      expect(outcome.operation!.steps.find((s) => s.kind === 'Reseed')?.detail).toMatch(/cloned from/);
      await expectRebuilt(cluster, config, db1, db2);
    }, 600_000);
  });

  describe('a CLONE the donor refuses', () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      cluster = await startCluster({ servers: 2, groups: 1, name: 'clone-refused', flavor: 'mysql' });
      config = physicalConfig(cluster);
      await seed(cluster);
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('fails the step and leaves nothing persisted on the server it did not rebuild', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      await cluster.breakReplication(db2);
      // The donor side without BACKUP_ADMIN (on the source only: not replicated).
      const c = await db1.connect();
      try {
        await c.query('SET SESSION sql_log_bin = 0');
        await c.query(`REVOKE BACKUP_ADMIN ON *.* FROM '${cluster.credentials.watchdog.user}'@'%'`);
      } finally {
        await c.end();
      }
      const outcome = await runCycle(
        config,
        { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
        { routers: sandboxRouterSwitch(config) },
      );
      const reseed = outcome.operation?.steps.find((s) => s.kind === 'Reseed');
      expect(reseed?.outcome, JSON.stringify(outcome.operation?.steps)).toBe('failed');
      const persisted = await db2.query<{ name: string }[]>(
        'SELECT VARIABLE_NAME AS name FROM performance_schema.persisted_variables',
      );
      expect(persisted).toEqual([]);
    }, 600_000);
  });

  describe('on servers whose clone plugin is not active (reseed.method auto)', () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      ({ cluster, config } = await autoCluster('clone-off', ['--clone=OFF']));
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('rebuilds the replica logically instead of failing on CLONE', async () => {
      await cluster.breakReplication(cluster.servers[1]!);
      await expectRebuiltLogically(cluster, config);
    }, 600_000);
  });

  describe('on servers where the watchdog lacks BACKUP_ADMIN on the source (reseed.method auto)', () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      ({ cluster, config } = await autoCluster('clone-grants'));
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('rebuilds the replica logically instead of failing on CLONE', async () => {
      const [db1, db2] = cluster.servers as [Server, Server];
      // The check reads the account's own privileges: with the README's grants it sees every one.
      const { user, password } = cluster.credentials.watchdog;
      const held = async () => {
        const w = await db1.connect({ user, password });
        try {
          const [rows] = await w.query(OWN_GLOBAL_PRIVILEGES_SQL);
          return (rows as Array<{ p: string }>).map((r) => r.p);
        } finally {
          await w.end();
        }
      };
      expect(await held()).toEqual(
        expect.arrayContaining([...CLONE_PRIVILEGES.donor, ...CLONE_PRIVILEGES.recipient]),
      );
      await cluster.breakReplication(db2);
      const c = await db1.connect();
      try {
        await c.query('SET SESSION sql_log_bin = 0');
        await c.query(`REVOKE BACKUP_ADMIN ON *.* FROM '${user}'@'%'`);
      } finally {
        await c.end();
      }
      expect(await held()).not.toContain('BACKUP_ADMIN');
      await expectRebuiltLogically(cluster, config);
    }, 600_000);
  });
});
