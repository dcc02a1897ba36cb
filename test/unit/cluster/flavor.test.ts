import { describe, expect, it } from 'vitest';
import {
  detectFlavorName,
  Flavor,
  inlineStatement,
  OBSERVE_VARIABLES_SQL,
  parseVersion,
} from '../../../functions/cluster/flavor.js';

const mysql57 = Flavor.detect('5.7.44-log', 'MySQL Community Server (GPL)');
const mysql8021 = Flavor.detect('8.0.21', 'MySQL Community Server - GPL');
const mysql8022 = Flavor.detect('8.0.22', 'MySQL Community Server - GPL');
const mysql8036 = Flavor.detect('8.0.36', 'MySQL Community Server - GPL');
const mysql84 = Flavor.detect('8.4.3', 'MySQL Community Server - GPL');
const mysql91 = Flavor.detect('9.1.0', 'MySQL Community Server - GPL');
const percona80 = Flavor.detect('8.0.36-28', 'Percona Server (GPL), Release 28, Revision 47601f19');
const mariadb1011 = Flavor.detect('10.11.18-MariaDB-0+deb12u1-log', 'Debian 12');
const mariadb114 = Flavor.detect('11.4.5-MariaDB', 'mariadb.org binary distribution');

const changeOpts = { host: 'db-a', port: 3306, user: 'repl', password: "p'w", connectRetrySeconds: 5 };

describe('flavor detection', () => {
  it('tells MariaDB from MySQL by the version string or the version comment', () => {
    expect(detectFlavorName('10.11.18-MariaDB-0+deb12u1-log', 'Debian 12')).toBe('mariadb');
    expect(detectFlavorName('5.5.5-10.6.16-MariaDB', '')).toBe('mariadb');
    expect(detectFlavorName('10.6.16', 'MariaDB Server')).toBe('mariadb');
    expect(detectFlavorName('8.0.36', 'MySQL Community Server - GPL')).toBe('mysql');
    expect(detectFlavorName('8.0.36-28', 'Percona Server (GPL)')).toBe('mysql');
    expect(detectFlavorName('8.0.mysql_aurora.3.05.2', 'Source distribution')).toBe('mysql');
  });

  it('parses versions, skipping the 5.5.5- prefix MariaDB shows old clients', () => {
    expect(parseVersion('5.5.5-10.11.6-MariaDB')).toEqual({ major: 10, minor: 11, patch: 6 });
    expect(parseVersion('8.4.3')).toEqual({ major: 8, minor: 4, patch: 3 });
    expect(parseVersion('8.0.mysql_aurora.3.05.2')).toEqual({ major: 8, minor: 0, patch: 0 });
    expect(() => parseVersion('garbage')).toThrow(/Cannot read a server version/);
  });

  it('reads every observed variable with one statement that no flavor rejects', () => {
    expect(OBSERVE_VARIABLES_SQL).toMatch(/^SHOW GLOBAL VARIABLES WHERE Variable_name IN \(/);
    for (const v of ['super_read_only', 'gtid_executed', 'gtid_binlog_pos', 'gtid_slave_pos', 'server_id']) {
      expect(OBSERVE_VARIABLES_SQL).toContain(`'${v}'`);
    }
  });
});

describe('replica statements per version', () => {
  it.each([
    [mysql57, 'SHOW SLAVE STATUS', 'START SLAVE', 'STOP SLAVE', 'RESET SLAVE ALL', 'SHOW SLAVE HOSTS'],
    [mysql8021, 'SHOW SLAVE STATUS', 'START SLAVE', 'STOP SLAVE', 'RESET SLAVE ALL', 'SHOW SLAVE HOSTS'],
    [mysql8022, 'SHOW REPLICA STATUS', 'START REPLICA', 'STOP REPLICA', 'RESET REPLICA ALL', 'SHOW REPLICAS'],
    [mysql84, 'SHOW REPLICA STATUS', 'START REPLICA', 'STOP REPLICA', 'RESET REPLICA ALL', 'SHOW REPLICAS'],
    [mysql91, 'SHOW REPLICA STATUS', 'START REPLICA', 'STOP REPLICA', 'RESET REPLICA ALL', 'SHOW REPLICAS'],
    [percona80, 'SHOW REPLICA STATUS', 'START REPLICA', 'STOP REPLICA', 'RESET REPLICA ALL', 'SHOW REPLICAS'],
    [mariadb1011, 'SHOW SLAVE STATUS', 'START SLAVE', 'STOP SLAVE', 'RESET SLAVE ALL', 'SHOW SLAVE HOSTS'],
    [mariadb114, 'SHOW SLAVE STATUS', 'START SLAVE', 'STOP SLAVE', 'RESET SLAVE ALL', 'SHOW SLAVE HOSTS'],
  ])('%s uses its own replica statements', (f, status, start, stop, reset, hosts) => {
    expect(f.showReplicaStatus()).toBe(status);
    expect(f.startReplica()).toBe(start);
    expect(f.stopReplica()).toBe(stop);
    expect(f.resetReplicaAll()).toBe(reset);
    expect(f.showReplicas()).toBe(hosts);
    expect(f.stopReplicaIoThread()).toBe(`${stop} IO_THREAD`);
  });

  it('never emits a statement MySQL 8.4 removed', () => {
    const removed = /\b(SLAVE|MASTER_|CHANGE MASTER|RESET MASTER|SHOW MASTER STATUS|WAIT_UNTIL_SQL_THREAD)\b/;
    const all = [
      mysql84.showReplicaStatus(),
      mysql84.startReplica(),
      mysql84.stopReplica(),
      mysql84.stopReplicaIoThread(),
      mysql84.resetReplicaAll(),
      mysql84.showReplicas(),
      mysql84.showBinaryLogStatus(),
      mysql84.changeSource(changeOpts).sql,
      ...mysql84.setGtidPositionAfterRestore('x').map((s) => s.sql),
      mysql84.waitForGtid('x', 1).sql,
      ...mysql84.setReadOnly(true),
      ...mysql84.setReadOnly(false),
    ];
    for (const s of all) expect(s).not.toMatch(removed);
  });

  it('points MariaDB at a source with MASTER_USE_GTID and escapes the values', () => {
    const s = mariadb1011.changeSource(changeOpts);
    expect(s.sql).toBe(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_CONNECT_RETRY = ?, MASTER_USE_GTID = slave_pos',
    );
    expect(inlineStatement(s)).toBe(
      "CHANGE MASTER TO MASTER_HOST = 'db-a', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_CONNECT_RETRY = 5, MASTER_USE_GTID = slave_pos",
    );
    expect(mariadb114.changeSource({ ...changeOpts, mariadbGtidMode: 'current_pos', ssl: true }).sql).toMatch(
      /MASTER_SSL = 1, MASTER_USE_GTID = current_pos$/,
    );
  });

  it('uses MASTER_AUTO_POSITION on 5.7 and 8.0.22, SOURCE_AUTO_POSITION from 8.0.23', () => {
    expect(mysql57.changeSource(changeOpts).sql).toBe(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_CONNECT_RETRY = ?, MASTER_AUTO_POSITION = 1',
    );
    expect(mysql8022.changeSource(changeOpts).sql).toBe(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_CONNECT_RETRY = ?, MASTER_AUTO_POSITION = 1',
    );
    for (const f of [mysql8036, mysql84, mysql91]) {
      expect(f.changeSource(changeOpts).sql).toBe(
        'CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_CONNECT_RETRY = ?, SOURCE_AUTO_POSITION = 1',
      );
    }
    expect(mysql84.changeSource({ ...changeOpts, getSourcePublicKey: false, ssl: true }).sql).toMatch(
      /SOURCE_SSL = 1, SOURCE_AUTO_POSITION = 1$/,
    );
  });

  it('rejects a MariaDB GTID mode that is not a known keyword', () => {
    expect(() =>
      mariadb1011.changeSource({ ...changeOpts, mariadbGtidMode: 'x; DROP' as 'slave_pos' }),
    ).toThrow(/MASTER_USE_GTID/);
  });
});

describe('read-only, GTID and binlog statements per version', () => {
  it('fences MySQL with super_read_only and MariaDB with read_only (it has no super_read_only)', () => {
    for (const f of [mysql57, mysql8036, mysql84]) {
      expect(f.setReadOnly(true)).toEqual(['SET GLOBAL super_read_only = ON']);
      expect(f.setReadOnly(false)).toEqual([
        'SET GLOBAL super_read_only = OFF',
        'SET GLOBAL read_only = OFF',
      ]);
      expect(f.readOnlyQuery()).toContain('@@global.super_read_only');
    }
    for (const f of [mariadb1011, mariadb114]) {
      expect(f.setReadOnly(true)).toEqual(['SET GLOBAL read_only = ON']);
      expect(f.setReadOnly(false)).toEqual(['SET GLOBAL read_only = OFF']);
      expect(f.readOnlyQuery()).not.toContain('super_read_only AS');
      expect(f.hasSuperReadOnly).toBe(false);
    }
    expect(Flavor.detect('5.7.7').hasSuperReadOnly).toBe(false);
  });

  it('names the account tables a reseed copies, never replication state', () => {
    expect(mariadb1011.accountTables()).toEqual([
      'global_priv',
      'db',
      'tables_priv',
      'columns_priv',
      'procs_priv',
      'proxies_priv',
      'roles_mapping',
    ]);
    expect(mysql84.accountTables()).toContain('global_grants');
    for (const f of [mariadb1011, mysql84]) {
      expect(f.accountTables().join()).not.toMatch(/gtid|slave|relay|master/);
      expect(f.localAccounts()).toContainEqual(['root', 'localhost']);
    }
  });

  it('keeps a fenced MySQL server writable for the watchdog with plain read_only (super_read_only refuses even SUPER)', () => {
    // read_only first: the server is never writable between the two statements.
    for (const f of [mysql57, mysql8036, mysql84, mysql91]) {
      expect(f.setReadOnlyWatchdogWritable()).toEqual([
        'SET GLOBAL read_only = ON',
        'SET GLOBAL super_read_only = OFF',
      ]);
    }
    expect(mariadb1011.setReadOnlyWatchdogWritable()).toEqual(['SET GLOBAL read_only = ON']);
  });

  it('bounds the metadata-lock wait of a fence or a dump lock (the default is a year)', () => {
    for (const f of [mysql57, mysql84, mariadb1011]) {
      expect(inlineStatement(f.boundLockWait(5))).toBe('SET SESSION lock_wait_timeout = 5');
    }
    expect(inlineStatement(mysql84.boundLockWait(0.2))).toBe('SET SESSION lock_wait_timeout = 1');
  });

  it('replays a replica exactly to a position: MariaDB UNTIL master_gtid_pos, MySQL SQL_THREAD UNTIL SQL_AFTER_GTIDS', () => {
    const set = 'a2b8c1d0-0000-11ee-8000-000000000001:1-12,\nb2b8c1d0-0000-11ee-8000-000000000002:1-3';
    expect(mysql91.startReplicaUntil(set).map(inlineStatement)).toEqual([
      'START REPLICA IO_THREAD',
      "START REPLICA SQL_THREAD UNTIL SQL_AFTER_GTIDS = 'a2b8c1d0-0000-11ee-8000-000000000001:1-12,b2b8c1d0-0000-11ee-8000-000000000002:1-3'",
    ]);
    expect(mysql57.startReplicaUntil('u:1-5').map(inlineStatement)).toEqual([
      'START SLAVE IO_THREAD',
      "START SLAVE SQL_THREAD UNTIL SQL_AFTER_GTIDS = 'u:1-5'",
    ]);
    expect(mariadb1011.startReplicaUntil('0-1-9').map(inlineStatement)).toEqual([
      "START SLAVE UNTIL master_gtid_pos = '0-1-9'",
    ]);
  });

  it('sets the GTID position after a restore the way each version allows', () => {
    expect(mariadb1011.setGtidPositionAfterRestore('0-1-42').map(inlineStatement)).toEqual([
      'RESET MASTER',
      "SET GLOBAL gtid_slave_pos = '0-1-42'",
    ]);
    // With the source's binlog state, every domain-server pair it holds comes along.
    expect(mariadb1011.setGtidPositionAfterRestore('0-2-692', '0-1-74,0-2-692').map(inlineStatement)).toEqual(
      [
        'RESET MASTER',
        "SET GLOBAL gtid_binlog_state = '0-1-74,0-2-692'",
        "SET GLOBAL gtid_slave_pos = '0-2-692'",
      ],
    );
    const set = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42';
    for (const f of [mysql57, mysql8036]) {
      expect(f.setGtidPositionAfterRestore(set).map(inlineStatement)).toEqual([
        'RESET MASTER',
        `SET GLOBAL gtid_purged = '${set}'`,
      ]);
    }
    expect(mysql84.setGtidPositionAfterRestore(set).map(inlineStatement)).toEqual([
      'RESET BINARY LOGS AND GTIDS',
      `SET GLOBAL gtid_purged = '${set}'`,
    ]);
    expect(mysql84.showBinaryLogStatus()).toBe('SHOW BINARY LOG STATUS');
    expect(mysql8036.showBinaryLogStatus()).toBe('SHOW MASTER STATUS');
    expect(mariadb1011.showBinaryLogStatus()).toBe('SHOW MASTER STATUS');
  });

  it('waits for a GTID with MASTER_GTID_WAIT on MariaDB and WAIT_FOR_EXECUTED_GTID_SET on MySQL', () => {
    expect(inlineStatement(mariadb1011.waitForGtid('0-1-5', 3))).toBe(
      "SELECT MASTER_GTID_WAIT('0-1-5', 3) AS result",
    );
    for (const f of [mysql57, mysql8036, mysql84]) {
      expect(inlineStatement(f.waitForGtid('u:1-5', 3))).toBe(
        "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 3) AS result",
      );
    }
    expect(mariadb1011.gtidWaitSucceeded(0)).toBe(true);
    expect(mariadb1011.gtidWaitSucceeded(-1)).toBe(false);
    expect(mysql84.gtidWaitSucceeded('0')).toBe(true);
    expect(mysql84.gtidWaitSucceeded(1)).toBe(false);
    expect(mysql84.gtidWaitSucceeded(null)).toBe(false);
  });

  it('names the executed-GTID variable and turns binary logging off for a session', () => {
    expect(mariadb1011.executedGtidVariable()).toBe('gtid_binlog_pos');
    expect(mysql84.executedGtidVariable()).toBe('gtid_executed');
    expect(mysql84.gtidQuery()).toContain('@@global.gtid_executed');
    expect(mariadb1011.gtidQuery()).toContain('@@global.gtid_slave_pos');
    expect(mysql84.disableBinlogForSession()).toBe('SET SESSION sql_log_bin = 0');
    expect(mariadb1011.disableBinlogForSession()).toBe('SET SESSION sql_log_bin = 0');
  });
});

describe('replica status normalisation', () => {
  const u = '3e11fa47-71ca-11e1-9e33-c80aa9429562';

  it('reads MySQL 8.0.22+ column names (Replica_*, Source_*)', () => {
    const r = mysql84.normalizeReplicaStatus([
      {
        Replica_IO_State: 'Waiting for source to send event',
        Source_Host: 'db-a',
        Source_Port: 3306,
        Replica_IO_Running: 'Yes',
        Replica_SQL_Running: 'Yes',
        Last_IO_Errno: 0,
        Last_IO_Error: '',
        Last_SQL_Errno: 0,
        Last_SQL_Error: '',
        Seconds_Behind_Source: 3,
        Source_Server_Id: 1,
        Source_UUID: u,
        Replica_SQL_Running_State: 'Replica has read all relay log; waiting for more updates',
        Retrieved_Gtid_Set: `${u}:1-10`,
        Executed_Gtid_Set: `${u}:1-9,\n${u.replace('3e', '4e')}:1-2`,
        Auto_Position: 1,
        Channel_Name: '',
      },
    ]);
    expect(r).toMatchObject({
      sourceHost: 'db-a',
      sourcePort: 3306,
      ioRunning: 'Yes',
      sqlRunning: 'Yes',
      secondsBehind: 3,
      sourceServerId: 1,
      sourceUuid: u,
      usingGtid: 'auto-position',
    });
    expect(r?.retrievedGtid.parsed?.count()).toBe(10n);
    expect(r?.executedGtid.parsed?.count()).toBe(11n);
  });

  it('reads MySQL 5.7 column names and picks the default channel of a multi-source replica', () => {
    const r = mysql57.normalizeReplicaStatus([
      {
        Master_Host: 'other',
        Master_Port: 3307,
        Slave_IO_Running: 'No',
        Slave_SQL_Running: 'No',
        Channel_Name: 'c2',
      },
      {
        Master_Host: 'db-a',
        Master_Port: 3306,
        Slave_IO_Running: 'Connecting',
        Slave_SQL_Running: 'Yes',
        Last_IO_Errno: 2003,
        Last_IO_Error: "error connecting to master 'repl@db-a:3306' - retry-time: 60 retries: 1",
        Seconds_Behind_Master: null,
        Auto_Position: 0,
        Retrieved_Gtid_Set: '',
        Executed_Gtid_Set: '',
        Channel_Name: '',
      },
    ]);
    expect(r).toMatchObject({
      sourceHost: 'db-a',
      ioRunning: 'Connecting',
      lastIoErrno: 2003,
      secondsBehind: null,
      usingGtid: 'No',
      channel: '',
    });
  });

  it('reads MariaDB column names, Gtid_IO_Pos as received and gtid_slave_pos as executed', () => {
    const r = mariadb1011.normalizeReplicaStatus(
      [
        {
          Slave_IO_State: 'Waiting for master to send event',
          Master_Host: '127.0.0.1',
          Master_Port: 41306,
          Slave_IO_Running: 'Yes',
          Slave_SQL_Running: 'No',
          Last_SQL_Errno: 1062,
          Last_SQL_Error: "Error 'Duplicate entry '1' for key 'PRIMARY'' on query",
          Seconds_Behind_Master: null,
          Master_Server_Id: 11,
          Using_Gtid: 'Slave_Pos',
          Gtid_IO_Pos: '0-11-8',
          Slave_SQL_Running_State: '',
        },
      ],
      '0-11-7',
    );
    expect(r).toMatchObject({
      sqlRunning: 'No',
      lastSqlErrno: 1062,
      usingGtid: 'Slave_Pos',
      sourceServerId: 11,
      sourceUuid: null,
    });
    expect(r?.retrievedGtid.raw).toBe('0-11-8');
    expect(r?.executedGtid.raw).toBe('0-11-7');
  });

  it('says "not a replica" for no rows, and after RESET SLAVE (empty host, no thread state)', () => {
    expect(mariadb1011.normalizeReplicaStatus([])).toBeNull();
    expect(mariadb1011.normalizeReplicaStatus([{ Master_Host: '', Slave_IO_Running: '' }])).toBeNull();
  });
});
