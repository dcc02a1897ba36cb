/**
 * The local cluster harness against real MariaDB servers and real HAProxy routers: replication comes
 * up clean, the watchdog account can do exactly what it needs, the router modes behave as documented,
 * the fault helpers produce the states they promise, and nothing outlives its owner.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantStatementsFor, MARIADB_WATCHDOG_PRIVILEGES } from '../../functions/cluster/grants.js';
import {
  type Cluster,
  processesUnder,
  renderHaproxyConfig,
  startCluster,
} from '../../functions/sandbox/harness/index.js';
import { isAlive } from '../../functions/sandbox/harness/processes.js';
import type { Connection, Row } from '../../functions/sandbox/harness/sql.js';

async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

describe('a 2-server cluster with sticky routers', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 2, name: 'harness-sticky' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('comes up with equal GTID sets and both replication threads running', async () => {
    const [db1, db2] = cluster.servers;
    const primary = await cluster.gtidState(db1!);
    const replica = await cluster.gtidState(db2!);
    expect(primary.binlogPos).toMatch(/^0-1-\d+$/);
    expect(replica.currentPos).toBe(primary.currentPos);
    expect(replica.binlogPos).toBe(primary.binlogPos);
    const status = await cluster.replicationStatus(db2!);
    expect(status).toMatchObject({
      Slave_IO_Running: 'Yes',
      Slave_SQL_Running: 'Yes',
      Using_Gtid: 'Slave_Pos',
    });
    expect(Number(status?.Master_Port)).toBe(db1!.port);
    expect(await cluster.replicationStatus(db1!)).toBeNull();
    const readOnly = await Promise.all(
      cluster.servers.map((s) => s.query<Row[]>('SELECT @@read_only AS ro')),
    );
    expect(readOnly.map((rows) => Number(rows[0]?.ro))).toEqual([0, 0]);
  });

  it('routes every router to db1 and describes the cluster in the watchdog config', async () => {
    expect(cluster.groups.map((g) => g.name)).toEqual(['g1', 'g2']);
    for (const router of cluster.routers) expect(await router.routesTo()).toBe(cluster.primary.address);
    const config = cluster.config();
    expect(config.servers).toEqual(
      cluster.servers.map((s) => ({ name: s.name, host: '127.0.0.1', port: s.port })),
    );
    expect(config.groups[0]).toMatchObject({
      name: 'g1',
      routerKind: 'haproxy',
      section: 'mysql_failover',
      routers: [{ host: '127.0.0.1', port: cluster.groups[0]!.routers[0]!.port }],
    });
    expect(existsSync(config.groups[0]!.routers[0]!.configPath)).toBe(true);
    expect(existsSync(cluster.configFile())).toBe(true);
  });

  it('gives the watchdog user its documented privileges and not ALL, SUPER or CREATE USER', async () => {
    const { watchdog } = cluster.credentials;
    const grants = await cluster.primary.query<Row[]>(`SHOW GRANTS FOR '${watchdog.user}'@'%'`);
    const text = grants.map((row) => String(Object.values(row)[0])).join('\n');
    expect(text).not.toMatch(/ALL PRIVILEGES|\bSUPER\b|SET USER|CREATE USER/);
    expect(text).not.toMatch(/(INSERT|UPDATE|DELETE|DROP|ALTER)[^\n]* ON \*\.\*/);
    for (const need of MARIADB_WATCHDOG_PRIVILEGES) expect(text).toContain(need.privilege);
    const connection = await cluster.primary.connect(watchdog);
    try {
      await expect(connection.query("CREATE USER 'intruder'@'%'")).rejects.toMatchObject({
        code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      });
      // The account tables are writable, one by one (a reseed copies the source's accounts; see
      // grants.ts); nothing else of `mysql` is: not the replication state, not stored programs.
      expect(text).toContain('GRANT INSERT, DELETE ON `mysql`.`global_priv` TO');
      await expect(
        connection.query('DELETE FROM mysql.gtid_slave_pos WHERE domain_id = 4242'),
      ).rejects.toThrow(/denied/);
      await expect(connection.query("DELETE FROM mysql.proc WHERE db = 'none'")).rejects.toThrow(/denied/);
      await expect(connection.query("GRANT SELECT ON *.* TO 'watchdog'@'%'")).rejects.toThrow(/denied/);
      const users = await cluster.primary.query<Row[]>(
        "SELECT COUNT(*) AS n FROM mysql.user WHERE user = 'intruder'",
      );
      expect(Number(users[0]?.n)).toBe(0);
    } finally {
      await connection.end();
    }
  });

  it('lets the watchdog fence and unfence a server with SET GLOBAL read_only', async () => {
    const db1 = cluster.primary;
    await cluster.ensureHarnessTable();
    await db1.query("CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-pw'");
    await db1.query("GRANT INSERT, SELECT ON harness.* TO 'app'@'%'");
    const watchdog = await db1.connect(cluster.credentials.watchdog);
    const app = await db1.connect({ user: 'app', password: 'app-pw' });
    try {
      await watchdog.query('SET GLOBAL read_only = 1');
      const [on] = await watchdog.query('SELECT @@global.read_only AS ro');
      expect(Number((on as Row[])[0]?.ro)).toBe(1);
      await expect(
        app.query("INSERT INTO harness.writes (id, server, note) VALUES (1, 'app', 'fenced')"),
      ).rejects.toMatchObject({ code: 'ER_OPTION_PREVENTS_STATEMENT' });
      // READ_ONLY ADMIN also lets the watchdog itself write on a fenced server (election signals).
      await watchdog.query("INSERT INTO harness.writes (id, server, note) VALUES (3, 'watchdog', 'fenced')");
      await watchdog.query('SET GLOBAL read_only = 0');
      const [off] = await watchdog.query('SELECT @@global.read_only AS ro');
      expect(Number((off as Row[])[0]?.ro)).toBe(0);
      await app.query("INSERT INTO harness.writes (id, server, note) VALUES (1, 'app', 'unfenced')");
    } finally {
      await watchdog.end();
      await app.end();
    }
  });

  it('lets the watchdog stop and start replication and read replica and binlog status', async () => {
    const [db1, db2] = cluster.servers;
    const watchdog = await db2!.connect(cluster.credentials.watchdog);
    try {
      await watchdog.query('STOP SLAVE');
      const [stopped] = await watchdog.query('SHOW SLAVE STATUS');
      expect((stopped as Row[])[0]).toMatchObject({ Slave_IO_Running: 'No', Slave_SQL_Running: 'No' });
      await watchdog.query('START SLAVE');
      await cluster.waitForReplication(db2!);
      const [running] = await watchdog.query('SHOW SLAVE STATUS');
      expect((running as Row[])[0]).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
    } finally {
      await watchdog.end();
    }
    const onPrimary = await db1!.connect(cluster.credentials.watchdog);
    try {
      const [master] = await onPrimary.query('SHOW MASTER STATUS');
      expect((master as Row[])[0]?.File).toMatch(/^mysql-bin\.\d+$/);
      expect(Number((master as Row[])[0]?.Position)).toBeGreaterThan(0);
      const [logs] = await onPrimary.query('SHOW BINARY LOGS');
      expect((logs as Row[]).length).toBeGreaterThan(0);
      const [hosts] = await onPrimary.query('SHOW SLAVE HOSTS');
      expect((hosts as Row[]).map((row) => Number(row.Server_id))).toContain(db2!.serverId);
    } finally {
      await onPrimary.end();
    }
  });

  it('lets the watchdog take FLUSH TABLES WITH READ LOCK, which blocks other writers until released', async () => {
    const db1 = cluster.primary;
    await cluster.ensureHarnessTable();
    const watchdog = await db1.connect(cluster.credentials.watchdog);
    const writer = await db1.connect();
    try {
      await writer.query('SET SESSION lock_wait_timeout = 1');
      await watchdog.query('FLUSH TABLES WITH READ LOCK');
      await expect(
        writer.query("INSERT INTO harness.writes (id, server, note) VALUES (2, 'root', 'locked')"),
      ).rejects.toMatchObject({ code: 'ER_LOCK_WAIT_TIMEOUT' });
      await watchdog.query('UNLOCK TABLES');
      await writer.query("INSERT INTO harness.writes (id, server, note) VALUES (2, 'root', 'unlocked')");
    } finally {
      await watchdog.end();
      await writer.end();
    }
  });

  it('lets the watchdog write without binary logging, kill sessions and create views as itself only', async () => {
    const db1 = cluster.primary;
    const watchdog = await db1.connect(cluster.credentials.watchdog);
    const victim = await db1.connect();
    try {
      const before = await cluster.gtidState(db1);
      await watchdog.query('SET SESSION sql_log_bin = 0');
      await watchdog.query('CREATE DATABASE IF NOT EXISTS ongoing_failover');
      await watchdog.query('CREATE TABLE IF NOT EXISTS ongoing_failover.probe (id INT PRIMARY KEY)');
      await watchdog.query('INSERT INTO ongoing_failover.probe VALUES (1)');
      await watchdog.query('DROP DATABASE ongoing_failover');
      expect((await cluster.gtidState(db1)).binlogPos).toBe(before.binlogPos);
      await watchdog.query('SET SESSION sql_log_bin = 1');

      const [idRows] = await victim.query('SELECT CONNECTION_ID() AS id');
      const victimId = Number((idRows as Row[])[0]?.id);
      await watchdog.query(`KILL CONNECTION ${victimId}`);
      await waitUntil('the killed session is gone', async () => {
        const rows = await db1.query<Row[]>(
          'SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id = ?',
          [victimId],
        );
        return Number(rows[0]?.n) === 0;
      });

      // Restored objects get the watchdog as definer: a DEFINER of another account would need SET USER,
      // which is not granted because a routine defined as root runs as root.
      await expect(
        watchdog.query(
          "CREATE DEFINER='root'@'localhost' VIEW harness.v_writes AS SELECT id FROM harness.writes",
        ),
      ).rejects.toMatchObject({ code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR' });
      await watchdog.query('CREATE VIEW harness.v_writes AS SELECT id FROM harness.writes');
      const views = await db1.query<Row[]>(
        "SELECT DEFINER AS d FROM information_schema.views WHERE table_schema = 'harness' AND table_name = 'v_writes'",
      );
      expect(views[0]?.d).toBe('watchdog@%');
      await watchdog.query('DROP VIEW harness.v_writes');
    } finally {
      await watchdog.end();
      victim.destroy();
    }
  });

  it('needs every documented privilege: without any one of them its statement is refused', async () => {
    const db2 = cluster.servers[1]!;
    const setup = [
      'SET SESSION sql_log_bin = 0',
      'CREATE TABLE IF NOT EXISTS harness.probe_t (id INT PRIMARY KEY, v INT)',
      'CREATE OR REPLACE VIEW harness.v_probe AS SELECT id FROM harness.probe_t',
      'CREATE OR REPLACE TRIGGER harness.t_probe BEFORE INSERT ON harness.probe_t FOR EACH ROW SET NEW.v = 1',
      'CREATE OR REPLACE EVENT harness.e_probe ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1',
      'CREATE DATABASE IF NOT EXISTS ongoing_failover',
      'CREATE OR REPLACE TABLE ongoing_failover.pd (id INT PRIMARY KEY, v INT)',
      'CREATE OR REPLACE PROCEDURE ongoing_failover.pp_root() SELECT 1',
    ];
    const root = await db2.connect();
    try {
      for (const sql of setup) await root.query(sql);
      // For each privilege, a statement the watchdog runs that needs it (run on the replica, without
      // binary logging so the probes leave no GTIDs behind).
      const probes: Record<string, (c: Connection) => Promise<unknown>> = {
        SELECT: (c) => c.query('SELECT COUNT(*) FROM harness.probe_t'),
        'SHOW VIEW': (c) => c.query('SHOW CREATE VIEW harness.v_probe'),
        TRIGGER: (c) => c.query('SHOW CREATE TRIGGER harness.t_probe'),
        EVENT: (c) => c.query('SHOW CREATE EVENT harness.e_probe'),
        'LOCK TABLES': async (c) => {
          await c.query('LOCK TABLES harness.probe_t READ');
          await c.query('UNLOCK TABLES');
        },
        RELOAD: async (c) => {
          await c.query('FLUSH TABLES WITH READ LOCK');
          await c.query('UNLOCK TABLES');
        },
        PROCESS: (c) => c.query('SHOW ENGINE INNODB STATUS'),
        'CONNECTION ADMIN': async (c) => {
          const victim = await db2.connect();
          const [rows] = await victim.query('SELECT CONNECTION_ID() AS id');
          try {
            await c.query(`KILL CONNECTION ${Number((rows as Row[])[0]?.id)}`);
          } finally {
            victim.destroy();
          }
        },
        'READ_ONLY ADMIN': (c) => c.query('SET GLOBAL read_only = 0'),
        'REPLICATION SLAVE ADMIN': (c) => c.query('START SLAVE'),
        'SLAVE MONITOR': (c) => c.query('SHOW SLAVE STATUS'),
        'BINLOG MONITOR': (c) => c.query('SHOW MASTER STATUS'),
        'REPLICATION MASTER ADMIN': (c) => c.query('SHOW SLAVE HOSTS'),
        'BINLOG ADMIN': (c) => c.query('SET SESSION sql_log_bin = 1'),
        CREATE: (c) => c.query('CREATE OR REPLACE TABLE ongoing_failover.pc (id INT)'),
        DROP: (c) => c.query('DROP TABLE IF EXISTS ongoing_failover.pc'),
        INSERT: (c) => c.query('INSERT INTO ongoing_failover.pd VALUES (1, 1) ON DUPLICATE KEY UPDATE v = 1'),
        UPDATE: (c) => c.query('UPDATE ongoing_failover.pd SET v = 2 WHERE id = 1'),
        DELETE: (c) => c.query('DELETE FROM ongoing_failover.pd WHERE id = 1'),
        ALTER: (c) => c.query("ALTER TABLE ongoing_failover.pd COMMENT 'probe'"),
        INDEX: async (c) => {
          await c.query('CREATE INDEX i_probe ON ongoing_failover.pd (v)');
          await root.query('DROP INDEX i_probe ON ongoing_failover.pd');
        },
        'CREATE VIEW': (c) => c.query('CREATE OR REPLACE VIEW ongoing_failover.pv AS SELECT 1 AS one'),
        'CREATE ROUTINE': (c) => c.query('CREATE OR REPLACE PROCEDURE ongoing_failover.pp() SELECT 1'),
        'INSERT, DELETE': (c) => c.query("DELETE FROM mysql.roles_mapping WHERE User = 'no-such-probe-user'"),
        'ALTER ROUTINE': async (c) => {
          await c.query('DROP PROCEDURE ongoing_failover.pp_root');
          await root.query('CREATE OR REPLACE PROCEDURE ongoing_failover.pp_root() SELECT 1');
        },
      };
      expect(Object.keys(probes).sort()).toEqual(MARIADB_WATCHDOG_PRIVILEGES.map((p) => p.privilege).sort());
      const refusedWithout: Record<string, boolean> = {};
      for (const need of MARIADB_WATCHDOG_PRIVILEGES) {
        const probe = probes[need.privilege]!;
        const password = 'probe-pw';
        for (const [user, privileges] of [
          ['probe_all', MARIADB_WATCHDOG_PRIVILEGES],
          ['probe_less', MARIADB_WATCHDOG_PRIVILEGES.filter((p) => p !== need)],
        ] as const) {
          for (const sql of grantStatementsFor('mariadb', { user, host: '%', password }, privileges, [
            'ongoing_failover',
          ])) {
            await root.query(sql);
          }
        }
        const all = await db2.connect({ user: 'probe_all', password });
        const less = await db2.connect({ user: 'probe_less', password });
        try {
          await all.query('SET SESSION sql_log_bin = 0');
          if (need.privilege !== 'BINLOG ADMIN') await less.query('SET SESSION sql_log_bin = 0');
          await probe(all);
          refusedWithout[need.privilege] = await probe(less).then(
            () => false,
            (error: { code?: string }) => /DENIED|ER_SPECIFIC_ACCESS/.test(String(error.code)),
          );
        } finally {
          all.destroy();
          less.destroy();
          await root.query("DROP USER IF EXISTS 'probe_all'@'%', 'probe_less'@'%'");
        }
      }
      expect(refusedWithout).toEqual(
        Object.fromEntries(MARIADB_WATCHDOG_PRIVILEGES.map((p) => [p.privilege, true])),
      );
    } finally {
      for (const sql of [
        'DROP DATABASE IF EXISTS ongoing_failover',
        'DROP TABLE IF EXISTS harness.probe_t',
        'DROP VIEW IF EXISTS harness.v_probe',
        'DROP EVENT IF EXISTS harness.e_probe',
      ]) {
        await root.query(sql);
      }
      root.destroy();
    }
    // The probes left no trace in the replica's binary log.
    expect((await cluster.gtidState(db2)).binlogPos).toBe(
      (await cluster.gtidState(cluster.primary)).binlogPos,
    );
  });

  it('breaks replication with a conflicting row: the SQL thread stops with an error', async () => {
    const db2 = cluster.servers[1]!;
    const broken = await cluster.breakReplication(db2);
    expect(broken.errno).toBe(1062);
    const status = await cluster.replicationStatus(db2);
    expect(status).toMatchObject({ Slave_SQL_Running: 'No', Slave_IO_Running: 'Yes' });
    expect(String(status?.Last_SQL_Error)).toMatch(/Duplicate entry/);
    // Repair for the next tests: skip the conflicting event on the replica.
    await db2.query('STOP SLAVE');
    await db2.query('SET GLOBAL sql_slave_skip_counter = 1');
    await db2.query('START SLAVE');
    await cluster.waitForReplication(db2);
  });

  it('creates an errant transaction on a replica that the primary lacks', async () => {
    const [db1, db2] = cluster.servers;
    const errant = await cluster.createErrantTransaction(db2!);
    expect(errant.gtid).toMatch(/^0-2-\d+$/);
    const replica = await cluster.gtidState(db2!);
    const primary = await cluster.gtidState(db1!);
    expect(replica.binlogPos).toContain(errant.gtid);
    expect(primary.binlogPos).not.toContain('0-2-');
    expect(replica.binlogPos).not.toBe(primary.binlogPos);
    const rows = await db1!.query<Row[]>('SELECT COUNT(*) AS n FROM harness.writes WHERE id = ?', [
      errant.id,
    ]);
    expect(Number(rows[0]?.n)).toBe(0);
  });

  it('keeps routing to db2 after db1 is killed and comes back, until the router is reloaded', async () => {
    const [db1, db2] = cluster.servers;
    await db1!.kill9();
    expect(db1!.isRunning()).toBe(false);
    for (const router of cluster.routers) await cluster.waitForRouterTarget(router, db2!);
    await db1!.start();
    expect(await db1!.query<Row[]>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    // Several health-check rounds (rise 2 x downinter 1 s) in which plain HAProxy would fail back.
    await sleep(4_000);
    for (const router of cluster.haproxyRouters) {
      expect(await router.routesTo()).toBe(db2!.address);
      expect(await router.serverStates()).toEqual([
        { name: 'db1', status: 'MAINT', backup: false },
        { name: 'db2', status: 'UP', backup: true },
      ]);
    }
    // Reconfiguring (here: reloading the unchanged config) is what ends the stickiness.
    const router = cluster.haproxyRouters[0]!;
    const masterPid = router.pid;
    await router.reload();
    expect(router.pid).toBe(masterPid);
    await cluster.waitForRouterTarget(router, db1!);
  });

  it('stop() leaves no process and no folder behind, and can be called again', async () => {
    const pids = [...cluster.servers.map((s) => s.pid), ...cluster.routers.map((r) => r.pid)];
    expect(pids.every((pid) => pid !== null)).toBe(true);
    await cluster.stop();
    await cluster.stop();
    expect(processesUnder(cluster.dir)).toEqual([]);
    for (const pid of pids) expect(isAlive(pid!)).toBe(false);
    expect(existsSync(cluster.dir)).toBe(false);
  });
});

describe('a 3-server cluster with failback routers', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ servers: 3, groups: 1, routersPerGroup: 2, routerMode: 'failback' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('comes up with equal GTID sets on all three servers and both replicas replicating from db1', async () => {
    const states = await Promise.all(cluster.servers.map((s) => cluster.gtidState(s)));
    expect(new Set(states.map((s) => s.currentPos)).size).toBe(1);
    expect(new Set(states.map((s) => s.binlogPos)).size).toBe(1);
    for (const replica of cluster.replicas) {
      const status = await cluster.replicationStatus(replica);
      expect(status).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
      expect(Number(status?.Master_Port)).toBe(cluster.primary.port);
    }
    const write = await cluster.writeSomething();
    for (const replica of cluster.replicas) await cluster.waitForReplication(replica);
    for (const replica of cluster.replicas) {
      const rows = await replica.query<Row[]>('SELECT note FROM harness.writes WHERE id = ?', [write.id]);
      expect(rows).toEqual([{ note: 'write' }]);
    }
  });

  it('pauses and resumes a server: a frozen server accepts no queries until resumed', async () => {
    const db3 = cluster.servers[2]!;
    await db3.pause();
    expect(db3.isPaused()).toBe(true);
    await expect(db3.query('SELECT 1')).rejects.toThrow();
    await db3.resume();
    expect(db3.isPaused()).toBe(false);
    expect(await db3.query<Row[]>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('fails back to db1 as soon as it is healthy again', async () => {
    const [db1, db2] = cluster.servers;
    await db1!.kill9();
    for (const router of cluster.routers) await cluster.waitForRouterTarget(router, db2!);
    await db1!.start();
    for (const router of cluster.routers) await cluster.waitForRouterTarget(router, db1!);
  });

  it('picks up rewritten server lines on reload, keeping its master process', async () => {
    const [db1, db2, db3] = cluster.servers;
    const router = cluster.haproxyRouters[0]!;
    const masterPid = router.pid;
    const original = readFileSync(router.configPath, 'utf8');
    const switched = renderHaproxyConfig({
      bindPort: router.port,
      adminSocketPath: router.adminSocketPath,
      pidFile: router.pidFile,
      mode: 'failback',
      destinations: [db2!, db3!, db1!].map((s) => ({ name: s.name, host: s.host, port: s.port })),
    });
    writeFileSync(router.configPath, switched);
    await router.reload();
    expect(router.pid).toBe(masterPid);
    await cluster.waitForRouterTarget(router, db2!);
    // A config HAProxy rejects: the reload fails loudly and the running worker keeps routing.
    writeFileSync(router.configPath, `${switched}    server broken\n`);
    await expect(router.reload()).rejects.toThrow(/rejected the new config/);
    expect(await router.routesTo()).toBe(db2!.address);
    writeFileSync(router.configPath, original);
    await router.reload();
    await cluster.waitForRouterTarget(router, db1!);
  });

  it('restarts a router on the same port with the same routing', async () => {
    const router = cluster.haproxyRouters[1]!;
    const before = router.pid;
    await router.restart();
    expect(router.pid).not.toBe(before);
    expect(await router.routesTo()).toBe(cluster.primary.address);
  });
});

describe('the reaper', () => {
  it('kills the servers and routers of a node process that dies by SIGKILL', async () => {
    const child = spawn(
      process.execPath,
      [resolve('bin/run-ts.mjs'), resolve('test/harness/cluster-child.ts')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolveLine, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.once('line', resolveLine);
        child.once('exit', (code) =>
          reject(new Error(`child exited with ${code} before starting its cluster`)),
        );
      });
      const started = JSON.parse(line) as { dir: string; pids: number[] };
      expect(started.pids).toHaveLength(3);
      expect(processesUnder(started.dir).length).toBeGreaterThanOrEqual(3);
      child.kill('SIGKILL');
      await waitUntil(
        'every process of the dead owner is gone',
        () => processesUnder(started.dir).length === 0 && started.pids.every((pid) => !isAlive(pid)),
      );
      await waitUntil('its folder is removed', () => !existsSync(started.dir));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
