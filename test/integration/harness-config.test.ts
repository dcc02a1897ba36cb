/**
 * The harness's generated artefacts, checked by the real consumers: HAProxy's own config checker
 * (`haproxy -c`), the watchdog's config schema, and the grant statements at statement level (the MySQL 8
 * variant cannot run on a real server here).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVersion } from '../../functions/cluster/flavor.js';
import {
  grantFlavorOf,
  likeMatches,
  MARIADB_WATCHDOG_PRIVILEGES,
  MYSQL8_WATCHDOG_PRIVILEGES,
  MYSQL57_WATCHDOG_PRIVILEGES,
  replicationGrantStatements,
  watchdogGrantStatements,
} from '../../functions/cluster/grants.js';
import { parseConfig } from '../../functions/config/schema.js';
import { Cluster } from '../../functions/sandbox/harness/cluster.js';
import { HaproxyRouter } from '../../functions/sandbox/harness/haproxy.js';
import { renderHaproxyConfig, STICKY_LUA } from '../../functions/sandbox/harness/haproxy-config.js';
import { MariadbServer, requireBinary } from '../../functions/sandbox/harness/mariadb.js';
import { procStartTime } from '../../functions/sandbox/harness/processes.js';
import { findLeaks, processesUnder, reapDeadRuns } from '../../functions/sandbox/harness/reaper.js';

const execFileAsync = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'harness-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const destinations = [
  { name: 'db1', host: '127.0.0.1', port: 33061 },
  { name: 'db2', host: '127.0.0.1', port: 33062 },
];

function render(mode: 'sticky' | 'failback'): string {
  return renderHaproxyConfig({
    bindPort: 7001,
    adminSocketPath: join(scratch, 'admin.sock'),
    pidFile: join(scratch, 'haproxy.pid'),
    destinations,
    mode,
    stickyLuaPath: join(scratch, 'sticky.lua'),
  });
}

describe('the HAProxy router config', () => {
  it.each(['sticky', 'failback'] as const)('passes haproxy -c in %s mode', async (mode) => {
    writeFileSync(join(scratch, 'sticky.lua'), STICKY_LUA);
    const path = join(scratch, `${mode}.cfg`);
    writeFileSync(path, render(mode));
    const { stdout, stderr } = await execFileAsync(requireBinary('haproxy'), ['-c', '-f', path]);
    expect(`${stdout}${stderr}`).toMatch(/Configuration file is valid/);
  });

  it('lists the primary first and the replica as backup, in the seed router shape', () => {
    const text = render('failback');
    expect(text.startsWith('# managed by mysql-failover\n')).toBe(true);
    expect(text).toContain('listen mysql_failover\n    bind 127.0.0.1:7001\n');
    expect(text).toContain('    option mysql-check user haproxy_check post-41\n');
    expect(text.split('\n').filter((line) => line.trimStart().startsWith('server '))).toEqual([
      '    server db1 127.0.0.1:33061 check',
      '    server db2 127.0.0.1:33062 check backup',
    ]);
  });

  it('keeps the sticky mode outside the server lines, so rewriting them keeps the mode', () => {
    const serverLines = (text: string) =>
      text.split('\n').filter((line) => line.trimStart().startsWith('server '));
    expect(serverLines(render('sticky'))).toEqual(serverLines(render('failback')));
    expect(render('sticky')).toContain(`lua-load ${join(scratch, 'sticky.lua')}`);
    expect(render('failback')).not.toContain('lua-load');
  });
});

describe('the watchdog config the harness writes', () => {
  it('is accepted by the watchdog config schema with the cluster endpoints and credentials', () => {
    const dir = join(scratch, 'cluster');
    const cluster = new Cluster('harness-config', dir, 0, true);
    cluster.servers.push(
      new MariadbServer({ name: 'db1', serverId: 1, clusterDir: dir, port: 33061 }),
      new MariadbServer({ name: 'db2', serverId: 2, clusterDir: dir, port: 33062 }),
    );
    cluster.groups.push({
      name: 'g1',
      routers: [
        new HaproxyRouter({
          group: 'g1',
          name: 'g1r1',
          clusterDir: dir,
          port: 7001,
          mode: 'sticky',
          destinations,
          probeAccount: cluster.credentials.watchdog,
        }),
      ],
    });
    const config = parseConfig(cluster.config(), 'harness');
    expect(config.clusterName).toBe('harness-config');
    expect(config.servers.map((s) => s.id)).toEqual(['127.0.0.1:33061', '127.0.0.1:33062']);
    expect(config.groups[0]).toMatchObject({
      name: 'g1',
      routerKind: 'haproxy',
      section: 'mysql_failover',
      routers: [
        {
          id: '127.0.0.1:7001',
          configPath: join(dir, 'g1r1', 'haproxy.cfg'),
          adminSocket: join(dir, 'g1r1', 'admin.sock'),
        },
      ],
    });
    expect(config.credentials.watchdog).toEqual(cluster.credentials.watchdog);
    expect(config.credentials.replication).toEqual(cluster.credentials.replication);
    expect(config.objectStore).toBe(join(dir, 'objects'));
  });
});

describe('the sweep of dead runs', () => {
  it('kills the processes and removes the folder of a dead owner, and leaves live owners alone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'harness-reap-'));
    try {
      const dead = join(root, 'dead-1-aaaaaa');
      const live = join(root, 'live-2-bbbbbb');
      mkdirSync(dead);
      mkdirSync(live);
      // A pid that is certainly gone: a child that already exited.
      const gone = spawn('true');
      await new Promise((resolve) => gone.once('exit', resolve));
      writeFileSync(join(dead, 'owner.json'), JSON.stringify({ pid: gone.pid, startTime: null, ppid: 1 }));
      writeFileSync(
        join(live, 'owner.json'),
        JSON.stringify({ pid: process.pid, startTime: procStartTime(process.pid), ppid: process.ppid }),
      );
      // Stand-ins for a leaked server: their command line names the folder, as mariadbd's does.
      const orphan = spawn('bash', ['-c', 'sleep 60; exit 0', join(dead, 'db1', 'mysqld')], {
        stdio: 'ignore',
      });
      const running = spawn('bash', ['-c', 'sleep 60; exit 0', join(live, 'db1', 'mysqld')], {
        stdio: 'ignore',
      });
      try {
        // spawn() returns before the exec, and each bash forks its sleep, whose command line is bash's
        // (naming the folder) until it execs: wait until exactly the two stand-ins name the folders.
        const settled = () =>
          [...processesUnder(root)].sort().join() === [orphan.pid, running.pid].sort().join();
        const deadline = Date.now() + 30_000;
        while (!settled() && Date.now() < deadline) await sleep(10);
        expect(processesUnder(dead)).toEqual([orphan.pid]);
        expect(findLeaks(root).map((leak) => leak.dir)).toEqual([dead]);
        const report = reapDeadRuns(root);
        expect(report.removedDirs).toEqual([dead]);
        expect(report.killedPids).toEqual([orphan.pid]);
        await new Promise((resolve) =>
          orphan.exitCode !== null || orphan.signalCode ? resolve(null) : orphan.once('exit', resolve),
        );
        expect(orphan.signalCode).toBe('SIGKILL');
        expect(existsSync(dead)).toBe(false);
        expect(existsSync(live)).toBe(true);
        expect(processesUnder(live)).toEqual([running.pid]);
      } finally {
        orphan.kill('SIGKILL');
        running.kill('SIGKILL');
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('the template datadir', () => {
  it('is built although another server starting beside it clears the shared tmpdir', async () => {
    // A starting mariadbd (and every mariadb-install-db bootstrap) removes the #sql files it finds in
    // its tmpdir. A builder that kept its temporary tables in a shared tmpdir lost them to any server
    // starting beside it (seen on a fresh machine, two test workers building at once: "Unknown table
    // 'mysql.tmp_proxies_priv'", and the whole test file failed). Here the shared tmpdir is a scratch
    // folder the test clears the way such a server does, for as long as the build runs.
    const shared = join(scratch, 'shared-tmp');
    mkdirSync(shared, { recursive: true });
    const swept: string[] = [];
    let building = true;
    const sweeper = (async () => {
      while (building) {
        for (const name of readdirSync(shared)) {
          if (!name.startsWith('#sql')) continue;
          rmSync(join(shared, name), { force: true, recursive: true });
          swept.push(name);
        }
        await sleep(1);
      }
    })();
    const root = join(scratch, 'template-root');
    const built = await execFileAsync(
      process.execPath,
      ['bin/run-ts.mjs', 'test/harness/template-child.ts'],
      {
        env: { ...process.env, TMPDIR: shared, MYSQL_FAILOVER_HARNESS_ROOT: root },
        timeout: 300_000,
      },
    )
      .then(({ stdout }) => JSON.parse(stdout.trim()) as { path: string })
      .catch((error: { stderr?: string; message: string }) => ({ error: error.stderr || error.message }))
      .finally(() => {
        building = false;
      });
    await sweeper;
    expect(built).not.toHaveProperty('error');
    expect(swept).toEqual([]);
    const { path } = built as { path: string };
    expect(path.startsWith(root)).toBe(true);
    expect(existsSync(join(path, 'mysql', 'global_priv.frm'))).toBe(true);
  }, 600_000);
});

describe('the grant statements', () => {
  const account = { user: 'watchdog', host: '%', password: "pa'ss" };

  it('grants MySQL 8+ the dynamic privileges (BACKUP_ADMIN, CLONE_ADMIN, PERSIST_RO_VARIABLES_ADMIN for CLONE), writes per schema only', () => {
    expect(watchdogGrantStatements('mysql', account, ['app\\_%'])).toEqual([
      "CREATE USER IF NOT EXISTS 'watchdog'@'%' IDENTIFIED WITH caching_sha2_password BY 'pa\\'ss'",
      'GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, PROCESS, REPLICATION CLIENT, ' +
        'REPLICATION SLAVE, REPLICATION_SLAVE_ADMIN, SYSTEM_VARIABLES_ADMIN, SESSION_VARIABLES_ADMIN, ' +
        'CONNECTION_ADMIN, BINLOG_ADMIN, BACKUP_ADMIN, CLONE_ADMIN, PERSIST_RO_VARIABLES_ADMIN ' +
        "ON *.* TO 'watchdog'@'%'",
      'GRANT CREATE, DROP, INSERT, UPDATE, DELETE, ALTER, INDEX, REFERENCES, CREATE VIEW, CREATE ROUTINE, ' +
        "ALTER ROUTINE ON `ongoing_failover`.* TO 'watchdog'@'%'",
      'GRANT CREATE, DROP, INSERT, UPDATE, DELETE, ALTER, INDEX, REFERENCES, CREATE VIEW, CREATE ROUTINE, ' +
        "ALTER ROUTINE ON `app\\_%`.* TO 'watchdog'@'%'",
      // the account tables a reseed copies, one by one (never the mysql schema as a whole)
      ...[
        'user',
        'db',
        'tables_priv',
        'columns_priv',
        'procs_priv',
        'proxies_priv',
        'role_edges',
        'default_roles',
        'global_grants',
        'password_history',
      ].map((t) => `GRANT INSERT, DELETE ON \`mysql\`.\`${t}\` TO 'watchdog'@'%'`),
    ]);
  });

  it('grants MySQL 5.7 static privileges only: SUPER (no dynamic ones exist), mysql_native_password', () => {
    const statements = watchdogGrantStatements('mysql57', account);
    expect(statements[0]).toBe(
      "CREATE USER IF NOT EXISTS 'watchdog'@'%' IDENTIFIED WITH mysql_native_password BY 'pa\\'ss'",
    );
    expect(statements[1]).toBe(
      'GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, PROCESS, REPLICATION CLIENT, ' +
        "REPLICATION SLAVE, SUPER ON *.* TO 'watchdog'@'%'",
    );
    expect(statements.join('\n')).not.toMatch(/_ADMIN|caching_sha2|REFERENCES/);
    expect(grantFlavorOf('mysql', parseVersion('5.7.44-log'))).toBe('mysql57');
    expect(grantFlavorOf('mysql', parseVersion('8.0.36'))).toBe('mysql');
    expect(grantFlavorOf('mysql', parseVersion('9.7.4'))).toBe('mysql');
    expect(grantFlavorOf('mariadb', parseVersion('10.11.6-MariaDB'))).toBe('mariadb');
  });

  it('never grants SUPER (except on 5.7), ALL, SET USER or a global write privilege', () => {
    for (const flavor of ['mariadb', 'mysql'] as const) {
      const statements = watchdogGrantStatements(flavor, account).join('\n');
      expect(statements).not.toMatch(/\bSUPER\b|ALL PRIVILEGES|SET USER|SET_USER_ID|CREATE USER,/);
      const global = statements.split('\n').find((s) => s.includes('ON *.*')) ?? '';
      expect(global).not.toMatch(/\b(INSERT|UPDATE|DELETE|DROP|ALTER|CREATE)\b(?! VIEW| ROUTINE)/);
    }
    for (const need of [
      ...MARIADB_WATCHDOG_PRIVILEGES,
      ...MYSQL8_WATCHDOG_PRIVILEGES,
      ...MYSQL57_WATCHDOG_PRIVILEGES,
    ]) {
      expect(need.neededFor.length).toBeGreaterThan(10);
    }
  });

  it('refuses schema patterns that would cover the mysql schema', () => {
    for (const pattern of ['%', 'm%', 'my_ql', 'MYSQL', 'mysq%']) {
      expect(() => watchdogGrantStatements('mariadb', account, [pattern])).toThrow(/mysql schema/);
    }
    expect(likeMatches('app\\_%', 'app_x')).toBe(true);
    expect(likeMatches('app\\_%', 'appXx')).toBe(false);
    expect(likeMatches('a.b', 'axb')).toBe(false);
  });

  it('gives the replication account REPLICATION SLAVE only', () => {
    expect(replicationGrantStatements('mariadb', { user: 'repl', host: '%', password: 'x' })).toEqual([
      "CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'x'",
      "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
    ]);
  });
});
