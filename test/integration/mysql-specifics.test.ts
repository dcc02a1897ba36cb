/**
 * What only a real MySQL 9.7 shows: GTID sets longer than SHOW GLOBAL VARIABLES returns, a fence held
 * up by another session's table lock, HAProxy's health check against a server without
 * mysql_native_password, and a mysqldump file that carries SET @@GLOBAL.GTID_PURGED.
 */
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observe, targetFromConfig } from '../../functions/cluster/observe.js';
import type { Config } from '../../functions/config/schema.js';
import { loadSqlDump } from '../../functions/dump/load-sql.js';
import { AdminPool } from '../../functions/operations/admin.js';
import { fence } from '../../functions/operations/server-steps.js';
import { sandboxConfig } from '../../functions/sandbox/drill.js';
import { HaproxyRouter } from '../../functions/sandbox/harness/haproxy.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { mysqlCommand, requireMysqlInstall } from '../../functions/sandbox/harness/mysql-install.js';
import { freePort } from '../../functions/sandbox/harness/ports.js';
import { MYSQL_SKIP_REASON } from '../harness/flavors.js';

const execFileAsync = promisify(execFile);

describe.skipIf(MYSQL_SKIP_REASON !== null)('MySQL 9.7 specifics', () => {
  let cluster: Cluster;
  let config: Config;

  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 1, name: 'mysql9', flavor: 'mysql' });
    config = sandboxConfig(cluster, 'mysql specifics');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('observes a gtid_executed longer than the 1,024 characters SHOW GLOBAL VARIABLES returns, whole', async () => {
    const db1 = cluster.servers[0]!;
    // 300 empty transactions with gaps between them: one interval each, about 1,500 characters.
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const connection = await db1.connect();
    try {
      for (let n = 1; n <= 600; n += 2) {
        await connection.query(`SET GTID_NEXT = '${uuid}:${n}'`);
        await connection.query('BEGIN');
        await connection.query('COMMIT');
      }
      await connection.query("SET GTID_NEXT = 'AUTOMATIC'");
    } finally {
      await connection.end();
    }
    const [whole] = await db1.query<{ e: string }[]>('SELECT @@GLOBAL.gtid_executed AS e');
    expect(whole!.e.length).toBeGreaterThan(1_024);
    await cluster.waitForReplication(cluster.servers[1]!);

    const snapshot = await observe(targetFromConfig(config, ['g1']), config.credentials.watchdog!);
    const seen = snapshot.servers.find((s) => s.id === db1.address)!;
    expect(seen.gtid.executed.raw?.replace(/\s+/g, '')).toBe(whole!.e.replace(/\s+/g, ''));
  });

  it('fences a server within a bounded wait although another session holds a table lock', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    // An application account (the watchdog may not end sessions of SYSTEM_USER accounts such as root).
    await db1.query("CREATE USER IF NOT EXISTS 'app_lock'@'%' IDENTIFIED BY 'app-lock-pw'");
    await db1.query("GRANT SELECT, INSERT, LOCK TABLES ON harness.* TO 'app_lock'@'%'");
    await cluster.waitForReplication(db2);
    const locker = await db2.connect({ user: 'app_lock', password: 'app-lock-pw' });
    const pool = new AdminPool(config);
    try {
      await locker.query('LOCK TABLES harness.writes WRITE');
      // Without a bound, SET GLOBAL super_read_only waits for the lock for lock_wait_timeout (a year).
      const outcome = await Promise.race([
        fence(await pool.get(db2.address), [config.credentials.watchdog!.user], { lockWaitSeconds: 2 }),
        new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 60_000)),
      ]);
      expect(outcome).not.toBe('still waiting');
      expect(outcome).toMatchObject({ data: { after: { readOnly: true, superReadOnly: true } } });
      // The session holding the lock was ended.
      await expect(locker.query('SELECT 1')).rejects.toThrow();
    } finally {
      locker.destroy();
      await db2.query('SET GLOBAL super_read_only = OFF');
      await db2.query('SET GLOBAL read_only = OFF');
      await pool.close();
    }
  });

  it("checks MySQL 9 servers with HAProxy's greeting check (option mysql-check cannot log in to MySQL 9)", async () => {
    const destinations = cluster.servers.map((s) => ({ name: s.name, host: s.host, port: s.port }));
    const states = async (healthCheck: 'mysql-check' | 'greeting') => {
      const router = new HaproxyRouter({
        group: 'hc',
        name: `hc-${healthCheck}`,
        clusterDir: cluster.dir,
        port: await freePort(),
        mode: 'failback',
        destinations,
        probeAccount: cluster.credentials.watchdog,
        healthCheck,
      });
      router.writeConfig();
      await router.start();
      try {
        // Well past `rise` (2 checks) and `fall` (2 checks) at 1 s intervals.
        const deadline = Date.now() + 30_000;
        let seen = await router.serverStates();
        while (Date.now() < deadline && seen.some((s) => !['UP', 'DOWN'].includes(s.status.split(' ')[0]!))) {
          await new Promise((r) => setTimeout(r, 200));
          seen = await router.serverStates();
        }
        await new Promise((r) => setTimeout(r, 3_000));
        return (await router.serverStates()).map((s) => s.status);
      } finally {
        await router.stop();
      }
    };
    expect(await states('greeting')).toEqual(['UP', 'UP']);
    expect(await states('mysql-check')).toEqual(['DOWN', 'DOWN']);
  });

  it("loads a mysqldump file without running its SET @@GLOBAL.GTID_PURGED (it would append the source's GTIDs)", async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await db1.query('CREATE DATABASE IF NOT EXISTS restore_src');
    await db1.query('CREATE TABLE IF NOT EXISTS restore_src.t (id INT PRIMARY KEY)');
    await db1.query('INSERT IGNORE INTO restore_src.t VALUES (1), (2)');
    const install = requireMysqlInstall();
    const [command, ...args] = mysqlCommand(install, 'usr/bin/mysqldump', [
      '--no-defaults',
      `--socket=${db1.socketPath}`,
      '--user=root',
      '--set-gtid-purged=ON',
      '--single-transaction',
      'restore_src',
    ]);
    const { stdout } = await execFileAsync(command!, args, { maxBuffer: 64 * 1024 * 1024 });
    expect(stdout).toMatch(/SET @@GLOBAL\.GTID_PURGED=/);
    // A standalone server (not replicating) whose GTID state must stay its own.
    await db2.query(cluster.sql.stopReplica());
    await db2.query(cluster.sql.resetReplicaAll());
    const [before] = await db2.query<{ e: string }[]>('SELECT @@GLOBAL.gtid_executed AS e');
    const result = await loadSqlDump({
      target: { socketPath: db2.socketPath, user: 'root', password: '' },
      source: Readable.from([Buffer.from(`USE restore_src;\n${stdout}`)]),
      name: 'mysqldump file',
    });
    const [after] = await db2.query<{ e: string }[]>('SELECT @@GLOBAL.gtid_executed AS e');
    expect(after!.e).toBe(before!.e);
    expect(result.gtidPurged).toMatch(/:/);
    expect(result.warnings.join('\n')).toMatch(/GTID_PURGED not run/);
    expect(await db2.query('SELECT id FROM restore_src.t ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
